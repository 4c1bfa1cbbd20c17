/**
 * The one table of overlay options tsov can choose: the kernel's word and
 * values, the typed request field and its helper.proto name, the policy quirk
 * it serves (which value force and forbid choose) and the probe checks that
 * show a value works. The request checks, the option words, the wire
 * conversion, quirk selection, the spec reader's option names and the probe
 * plan are all derived from it. Pure data.
 */
import type { QuirkName } from '../../policy/policy-vocabulary';

/** The probe's test mounts (helper/probe/mount-check-plan.ts), by name. */
export const PROBE_CHECK_NAMES = [
  'mount:overlay',
  'mount:multiple-lowers',
  'mount:lowerdir+',
  'mount:userxattr',
  'mount:index=off',
  'mount:index=on',
  'mount:redirect_dir=on',
  'mount:metacopy=on',
  'mount:xino=on',
  'mount:volatile',
  'mount:idmapped-lowers',
] as const;
export type ProbeCheckName = (typeof PROBE_CHECK_NAMES)[number];

/** Typed choices of a mount request; unset means "leave the kernel's default". */
export interface OverlayChoices {
  userxattr?: boolean;
  index?: 'on' | 'off';
  redirectDir?: 'on' | 'off' | 'follow' | 'nofollow';
  metacopy?: 'on' | 'off';
  xino?: 'on' | 'off' | 'auto';
  nfsExport?: 'on' | 'off';
  volatile?: boolean;
}

export interface OverlayOption {
  /** The request field. */
  field: keyof OverlayChoices;
  /** The kernel's option name (and tsov-mount's --flag/--set name). */
  word: string;
  /** The field in helper.proto's OverlayChoices. */
  wire: string;
  /** 'flag': the word alone (the field is true); else the values the word takes. */
  values: 'flag' | readonly string[];
  /** The policy quirk it serves: the value force and forbid choose (a flag is only ever forced). */
  quirk?: { name: QuirkName; force: string | true; forbid?: string };
  /**
   * The probe's test mounts for it: the check that shows the force (or forbid)
   * value works (none: turning a feature off needs no proof), other options the
   * test mount needs, and whether renaming a lower directory must then work.
   */
  probe?: { force?: ProbeCheckName; forbid?: ProbeCheckName; needs?: OverlayChoices; expectDirectoryRename?: boolean };
}

/** In the order the kernel words are written. */
export const OVERLAY_OPTIONS: readonly OverlayOption[] = [
  { field: 'userxattr', word: 'userxattr', wire: 'userxattr', values: 'flag', quirk: { name: 'userxattr', force: true }, probe: { force: 'mount:userxattr' } },
  { field: 'index', word: 'index', wire: 'index', values: ['on', 'off'], quirk: { name: 'index', force: 'on', forbid: 'off' }, probe: { force: 'mount:index=on', forbid: 'mount:index=off' } },
  { field: 'redirectDir', word: 'redirect_dir', wire: 'redirect_dir', values: ['on', 'off', 'follow', 'nofollow'], quirk: { name: 'redirect_dir', force: 'on', forbid: 'off' }, probe: { force: 'mount:redirect_dir=on', expectDirectoryRename: true } },
  { field: 'metacopy', word: 'metacopy', wire: 'metacopy', values: ['on', 'off'], quirk: { name: 'metacopy', force: 'on', forbid: 'off' }, probe: { force: 'mount:metacopy=on', needs: { redirectDir: 'on' } } },
  { field: 'xino', word: 'xino', wire: 'xino', values: ['on', 'off', 'auto'], quirk: { name: 'xino', force: 'on', forbid: 'off' }, probe: { force: 'mount:xino=on' } },
  { field: 'nfsExport', word: 'nfs_export', wire: 'nfs_export', values: ['on', 'off'] },
  { field: 'volatile', word: 'volatile', wire: 'volatile', values: 'flag', quirk: { name: 'volatile', force: true }, probe: { force: 'mount:volatile' } },
];

/** The option serving a policy quirk. */
export function optionOfQuirk(quirk: QuirkName): OverlayOption {
  const option = OVERLAY_OPTIONS.find((o) => o.quirk?.name === quirk);
  if (option === undefined) throw new Error(`no overlay option serves quirk ${quirk}`);
  return option;
}

/** The kernel option words for typed choices, in the table's order. */
export function choiceWords(choices: OverlayChoices): string[] {
  const words: string[] = [];
  for (const option of OVERLAY_OPTIONS) {
    const value = choices[option.field];
    if (option.values === 'flag') {
      if (value === true) words.push(option.word);
    } else if (value !== undefined) {
      words.push(`${option.word}=${String(value)}`);
    }
  }
  return words;
}
