/**
 * Reads a `type: overlay` spec mount into a typed entry. Accepts the forms
 * people and tools produce: `lowerdir=/a:/b` in one option, several
 * `lowerdir=` options (joined in order), `lowerdir+=` per layer, and the form
 * `ctr run --mount ...,options=lowerdir=/a:/b` produces (ctr splits options on
 * ':', so `/b` arrives as an option of its own). tsov's own options
 * (`x-tsov.mode=`, `x-tsov.quirks=`) are read here and never reach the runtime.
 * Pure.
 */
import { InvalidArgumentError } from '../../common/errors';
import type { OciMount } from './oci-spec';

import { MODES, QUIRKS, type Mode, type QuirkName, type QuirkSetting, type QuirkSettings, type ResolvedMode } from '../../policy/policy-vocabulary';
import { OVERLAY_OPTIONS } from '../../helper/api/overlay-options';

export { MODES, QUIRKS };
export type { Mode, QuirkName, QuirkSetting, QuirkSettings, ResolvedMode };

export interface OverlayEntry {
  /** Position in the spec's mounts array. */
  index: number;
  destination: string;
  lowers: string[];
  upper?: string;
  work?: string;
  /** Mount flags kept for the bind mount that replaces the entry (ro, nosuid, ...). */
  flags: string[];
  /** Overlay options the entry itself gives (index=off, metacopy=on, userxattr, ...). */
  optionQuirks: QuirkSettings;
  /** x-tsov.mode= */
  mode?: Mode;
  /** x-tsov.quirks= */
  tsovQuirks: QuirkSettings;
}

/** Flags that mean the same on a bind mount as on the overlay. */
const BIND_FLAGS = new Set([
  'ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'relatime', 'norelatime', 'noatime', 'atime',
  'strictatime', 'nodiratime', 'diratime', 'sync', 'async', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared',
]);

/** Overlay options tsov understands, as quirk settings. */
const OPTION_QUIRKS: Record<string, [QuirkName, QuirkSetting]> = Object.fromEntries(
  OVERLAY_OPTIONS.flatMap((option) => {
    const quirk = option.quirk;
    if (quirk === undefined) return [];
    const word = (value: string | true) => (value === true ? option.word : `${option.word}=${value}`);
    const forms: Array<[string, [QuirkName, QuirkSetting]]> = [[word(quirk.force), [quirk.name, 'force']]];
    if (quirk.forbid !== undefined) forms.push([word(quirk.forbid), [quirk.name, 'forbid']]);
    return forms;
  }),
);

/** `+volatile,-index`, `volatile=force,index=forbid`, or several x-tsov.quirks options. */
export function parseQuirkList(text: string, where: string): QuirkSettings {
  const settings: QuirkSettings = {};
  for (const item of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    let name: string;
    let setting: QuirkSetting;
    if (item.startsWith('+') || item.startsWith('-')) {
      name = item.slice(1);
      setting = item.startsWith('+') ? 'force' : 'forbid';
    } else {
      const [key, value] = item.split('=', 2);
      if (value !== 'force' && value !== 'forbid') {
        throw new InvalidArgumentError(`${where}: quirk ${JSON.stringify(item)} must be +NAME, -NAME, NAME=force or NAME=forbid`);
      }
      name = key!;
      setting = value;
    }
    if (!(QUIRKS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`${where}: unknown quirk ${JSON.stringify(name)}; known: ${QUIRKS.join(', ')}`);
    }
    settings[name as QuirkName] = setting;
  }
  return settings;
}

const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;

/** "mount 3 (/ov)": how messages name an entry (a destination with control characters is quoted, so a message stays one line). */
export function describeEntry(index: number, destination: unknown): string {
  if (typeof destination !== 'string') return `mount ${index} (no destination)`;
  return `mount ${index} (${CONTROL_CHARACTER.test(destination) ? JSON.stringify(destination) : destination})`;
}

export function parseOverlayEntry(mount: OciMount, index: number): OverlayEntry {
  const where = describeEntry(index, mount.destination);
  if (typeof mount.destination !== 'string' || !mount.destination.startsWith('/')) {
    throw new InvalidArgumentError(`${where}: destination must be an absolute path`);
  }
  const options = mount.options ?? [];
  if (!Array.isArray(options) || options.some((o) => typeof o !== 'string')) {
    throw new InvalidArgumentError(`${where}: options must be a list of strings`);
  }
  const entry: OverlayEntry = { index, destination: mount.destination, lowers: [], flags: [], optionQuirks: {}, tsovQuirks: {} };
  let previousWasLowerdir = false;
  let usedPlus = false;
  let usedLowerdir = false;
  for (const option of options) {
    const continuesLowerdir = previousWasLowerdir && option.startsWith('/') && !option.includes('=');
    previousWasLowerdir = false;
    if (continuesLowerdir) {
      entry.lowers.push(...splitLowers(option, where));
      previousWasLowerdir = true;
      continue;
    }
    const equals = option.indexOf('=');
    const key = equals === -1 ? option : option.slice(0, equals);
    const value = equals === -1 ? undefined : option.slice(equals + 1);
    switch (key) {
      case 'lowerdir':
        usedLowerdir = true;
        entry.lowers.push(...splitLowers(value ?? '', where));
        previousWasLowerdir = true;
        break;
      case 'lowerdir+':
        usedPlus = true;
        if (value === undefined || value === '') throw new InvalidArgumentError(`${where}: lowerdir+= needs a path`);
        entry.lowers.push(value);
        break;
      case 'upperdir':
      case 'workdir': {
        const field = key === 'upperdir' ? 'upper' : 'work';
        if (entry[field] !== undefined) throw new InvalidArgumentError(`${where}: ${key}= is given twice`);
        if (value === undefined || value === '') throw new InvalidArgumentError(`${where}: ${key}= needs a path`);
        entry[field] = value;
        break;
      }
      case 'x-tsov.mode':
        if (!(MODES as readonly string[]).includes(value ?? '')) {
          throw new InvalidArgumentError(`${where}: x-tsov.mode=${value ?? ''} is not a mode; use one of ${MODES.join(', ')}`);
        }
        entry.mode = value as Mode;
        break;
      case 'x-tsov.quirks':
        Object.assign(entry.tsovQuirks, parseQuirkList(value ?? '', where));
        break;
      default: {
        const quirk = OPTION_QUIRKS[option];
        if (quirk !== undefined) {
          entry.optionQuirks[quirk[0]] = quirk[1];
        } else if (option === 'xino=auto') {
          // the kernel's own default on most builds; nothing to force
        } else if (BIND_FLAGS.has(option)) {
          entry.flags.push(option);
        } else {
          throw new InvalidArgumentError(
            `${where}: option ${JSON.stringify(option)} is not supported by tsov; supported: lowerdir, lowerdir+, upperdir, workdir, ${Object.keys(OPTION_QUIRKS).join(', ')}, mount flags, x-tsov.mode, x-tsov.quirks`,
          );
        }
      }
    }
  }
  if (usedPlus && usedLowerdir) throw new InvalidArgumentError(`${where}: mixes lowerdir= and lowerdir+=; use one form`);
  if (entry.lowers.length === 0) throw new InvalidArgumentError(`${where}: no lowerdir; an overlay needs at least one lower directory`);
  // Refused here, quoted, so that every later message can show the paths as they are.
  for (const [field, value] of [...entry.lowers.map((lower) => ['lowerdir', lower] as const), ['upperdir', entry.upper] as const, ['workdir', entry.work] as const]) {
    if (value !== undefined && CONTROL_CHARACTER.test(value)) {
      throw new InvalidArgumentError(`${where}: ${field} ${JSON.stringify(value)} contains a control character; no overlay layer path may`);
    }
  }
  entry.lowers = entry.lowers.map(plainPath);
  if (entry.upper !== undefined) entry.upper = plainPath(entry.upper);
  if (entry.work !== undefined) entry.work = plainPath(entry.work);
  return entry;
}

/**
 * A layer path as the kernel reads it: repeated and trailing '/' dropped
 * ("/srv/a//b/" is "/srv/a/b", which runc's kernel mount accepts). "." and
 * ".." stay: cleaning them by text can name another directory than the
 * kernel's walk does when a symlink comes before "..", so the helper refuses them.
 */
export function plainPath(value: string): string {
  const collapsed = value.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
}

function splitLowers(value: string, where: string): string[] {
  const lowers = value.split(':');
  if (lowers.some((lower) => lower === '')) {
    throw new InvalidArgumentError(`${where}: lowerdir ${JSON.stringify(value)} has an empty layer (leading, trailing or doubled ':'); tsov does not support data-only layers`);
  }
  return lowers;
}
