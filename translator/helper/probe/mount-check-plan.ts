/**
 * The test mounts a probe makes, one per overlay feature, and the option data
 * for each. Pure: the prober (prober.ts) runs them.
 */
import { buildOverlayOptions } from '../../../common/overlay-mounts';
import type { OverlayChoices } from '../request/mount-request';
import { choiceOptions } from '../request/overlay-option-string';
import { BASIC_MOUNT_CHECK } from './probe-report';

export interface MountCheckPlan {
  name: string;
  choices: OverlayChoices;
  /** Two lowers and no upper: a read-only stack. */
  readOnlyStack?: boolean;
  /** Give the lowers as lowerdir+= (one path per option, kernel >= 6.8). */
  lowerdirPlus?: boolean;
  /** Renaming a lower directory must work (redirect_dir=on); otherwise EXDEV is accepted. */
  expectDirectoryRename?: boolean;
}

export const MOUNT_CHECKS: readonly MountCheckPlan[] = [
  { name: BASIC_MOUNT_CHECK, choices: {} },
  { name: 'mount:multiple-lowers', choices: {}, readOnlyStack: true },
  { name: 'mount:lowerdir+', choices: {}, lowerdirPlus: true },
  { name: 'mount:userxattr', choices: { userxattr: true } },
  { name: 'mount:index=off', choices: { index: 'off' } },
  { name: 'mount:index=on', choices: { index: 'on' } },
  { name: 'mount:redirect_dir=on', choices: { redirectDir: 'on' }, expectDirectoryRename: true },
  { name: 'mount:metacopy=on', choices: { metacopy: 'on', redirectDir: 'on' } },
  { name: 'mount:xino=on', choices: { xino: 'on' } },
  { name: 'mount:volatile', choices: { volatile: true } },
];

export interface ScratchLayers {
  lowers: [string, string];
  upper: string;
  work: string;
}

/** Option data for one check's test mount. */
export function checkOptionData(plan: MountCheckPlan, layers: ScratchLayers): string {
  if (plan.readOnlyStack === true) return buildOverlayOptions({ lowers: layers.lowers }, choiceOptions(plan.choices)).join(',');
  if (plan.lowerdirPlus === true) {
    return [...choiceOptions(plan.choices), ...layers.lowers.map((lower) => `lowerdir+=${lower}`), `upperdir=${layers.upper}`, `workdir=${layers.work}`].join(',');
  }
  return buildOverlayOptions({ lowers: [layers.lowers[0]], upper: layers.upper, work: layers.work }, choiceOptions(plan.choices)).join(',');
}
