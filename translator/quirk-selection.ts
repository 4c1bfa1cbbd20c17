/**
 * Which overlay options a translated entry is mounted with: what the entry
 * asks for (its own options and x-tsov.quirks), what the policy forces or
 * forbids, and what the helper's probe found works on the upper's filesystem.
 * Never guessed: a forced option the probe saw fail is an error that quotes
 * the probe. Pure.
 */
import { InvalidArgumentError } from '../common/errors';
import type { OverlayChoices } from '../helper/api/mount-request';
import { optionOfQuirk } from '../helper/api/overlay-options';
import { findCheck, type ProbeReport } from '../helper/api/probe-report';
import { QUIRKS, type QuirkName, type QuirkSetting, type QuirkSettings } from './spec/overlay-entry';

export interface QuirkSources {
  /** The entry's own overlay options and x-tsov.quirks (the latter win). */
  entry: QuirkSettings;
  /** policy.quirks with the matching rule's quirks over them. */
  policy: QuirkSettings;
}

export interface QuirkSelection {
  choices: OverlayChoices;
  /** Why each option was chosen, for the report. */
  notes: string[];
}

/** Sets the choice a quirk setting means (from the option table); forbidding a flag leaves it out. */
function apply(choices: OverlayChoices, quirk: QuirkName, setting: QuirkSetting): void {
  const option = optionOfQuirk(quirk);
  const value = setting === 'force' ? option.quirk!.force : option.quirk!.forbid;
  if (value !== undefined) (choices as Record<string, unknown>)[option.field] = value;
}

export function selectQuirks(sources: QuirkSources, probe: ProbeReport | undefined, where: string): QuirkSelection {
  const choices: OverlayChoices = {};
  const notes: string[] = [];
  const problems: string[] = [];
  for (const quirk of QUIRKS) {
    const fromEntry = sources.entry[quirk];
    const fromPolicy = sources.policy[quirk];
    if (fromEntry !== undefined && fromPolicy !== undefined && fromEntry !== fromPolicy) {
      problems.push(`the entry asks to ${fromEntry} ${quirk} but the policy says ${fromPolicy}; change the entry or the policy rule`);
      continue;
    }
    let setting = fromEntry ?? fromPolicy;
    let why = fromEntry !== undefined ? 'asked by the entry' : 'set by the policy';
    if (setting === undefined && quirk === 'index' && probe?.moduleParameters['index'] !== undefined && findCheck(probe, 'mount:index=off')?.ok === true) {
      setting = 'forbid';
      why = 'as containerd does: an upper reused over other lowers would fail with ESTALE';
    }
    if (setting === undefined) continue;
    const checkName = optionOfQuirk(quirk).probe?.[setting];
    const check = checkName === undefined || probe === undefined ? undefined : findCheck(probe, checkName);
    if (check !== undefined && !check.ok) {
      problems.push(`${quirk} is ${setting}d (${why}) but the probe of ${probe!.directory} (${probe!.filesystem}) says it does not work: ${check.detail}`);
      continue;
    }
    apply(choices, quirk, setting);
    notes.push(`${quirk} ${setting === 'force' ? 'on' : 'off'}: ${why}${check !== undefined ? ' (probe: works)' : ''}`);
  }
  if (choices.metacopy === 'on' && choices.redirectDir === undefined) {
    choices.redirectDir = 'on';
    notes.push('redirect_dir on: metacopy needs it');
  }
  if (problems.length > 0) throw new InvalidArgumentError(`${where}: ${problems.join('; ')}`);
  return { choices, notes };
}
