/**
 * The test mounts a probe makes, one per overlay feature, and the layers and
 * options of each. Pure: the prober (prober.ts) runs them.
 */
import type { OverlayChoices } from '../api/mount-request';
import { OVERLAY_OPTIONS, type ProbeCheckName } from '../api/overlay-options';
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
  /** The lowers idmapped (PROBE_ID_MAPPING): lower files must show, and copy up as, the mapped root. */
  idmappedLowers?: boolean;
}

/**
 * The user namespace of the idmapped-lowers check: container root as host id
 * 666, one id, as containerd's own check does (plugins/snapshots/overlay/
 * overlayutils/check.go SupportsIDMappedMounts).
 */
export const PROBE_ID_MAPPING = { uid: [{ containerId: 0, hostId: 666, size: 1 }], gid: [{ containerId: 0, hostId: 666, size: 1 }] } as const;

/** One test mount per probed value of the option table (forbid before force), after the layer checks. */
function optionChecks(): MountCheckPlan[] {
  return OVERLAY_OPTIONS.flatMap((option) => {
    const { probe, quirk } = option;
    if (probe === undefined || quirk === undefined) return [];
    const plans: MountCheckPlan[] = [];
    for (const setting of ['forbid', 'force'] as const) {
      const name = probe[setting];
      const value = quirk[setting];
      if (name === undefined || value === undefined) continue;
      plans.push({ name, choices: { ...probe.needs, [option.field]: value }, ...(probe.expectDirectoryRename === true ? { expectDirectoryRename: true } : {}) });
    }
    return plans;
  });
}

export const MOUNT_CHECKS: readonly MountCheckPlan[] = [
  { name: BASIC_MOUNT_CHECK, choices: {} },
  { name: 'mount:multiple-lowers', choices: {}, readOnlyStack: true },
  { name: 'mount:lowerdir+', choices: {}, lowerdirPlus: true },
  ...optionChecks(),
  { name: 'mount:idmapped-lowers', choices: {}, idmappedLowers: true },
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
