/**
 * The test mounts a probe makes, one per overlay feature, and the layers and
 * options of each. Pure: the prober (prober.ts) runs them.
 */
import type { OverlayChoices } from '../api/mount-request';
import type { ProbeCheckName } from '../api/overlay-options';
import { BASIC_MOUNT_CHECK } from '../api/probe-report';

export interface MountCheckPlan {
  name: ProbeCheckName;
  choices: OverlayChoices;
  /** Two lowers and no upper: a read-only stack. */
  readOnlyStack?: boolean;
  /** Two lowers, given as descriptors (fsconfig lowerdir+, kernel >= 6.13): passes only if the kernel took them so. */
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

/** The layers one check's test mount stacks (its options are plan.choices). */
export function checkLayers(plan: MountCheckPlan, layers: ScratchLayers): { lowers: string[]; upper?: string; work?: string } {
  if (plan.readOnlyStack === true) return { lowers: [...layers.lowers] };
  if (plan.lowerdirPlus === true) return { lowers: [...layers.lowers], upper: layers.upper, work: layers.work };
  return { lowers: [layers.lowers[0]], upper: layers.upper, work: layers.work };
}
