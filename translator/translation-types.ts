/**
 * What a translation is made of: its input context, the helper mounts it
 * plans, the report for people, and one entry's outcome (translate.ts and the
 * per-mode planners in entry-plans.ts share them).
 */
import type { ProbeReport } from '../helper/api/probe-report';
import type { OverlayMountRequest } from '../helper/api/mount-request';
import type { RuntimeSettings, TranslationPolicy } from '../policy/translation-policy';
import type { SandboxOverlayNeeds } from './sandbox/gvisor-annotations';
import type { OciMount, OciSpec } from './spec/oci-spec';
import type { ResolvedMode } from './spec/overlay-entry';
import type { IdMapping } from '../common/id-mapping';

export interface TranslationContext {
  containerId: string;
  policy: TranslationPolicy;
  runtime: RuntimeSettings;
  /** tsov-helper's probe of each entry's upperdir, by that directory. */
  probes: ReadonlyMap<string, ProbeReport>;
  /** The container's user namespace: the helper idmaps the lowers of its overlays to it. */
  userNamespace?: IdMapping;
}

export interface MountAction {
  entryIndex: number;
  request: OverlayMountRequest;
}

export interface ReportEntry {
  index: number;
  destination: string;
  mode: ResolvedMode;
  /** What makes the view: kernel, fuse, memory, a host read-only merge, or gVisor's sandbox overlay. */
  backend: string;
  lowers: string[];
  upper?: string;
  /** The bind mount's source in the rewritten spec. */
  source: string;
  /** Where writes go, for people. */
  writes: string;
  reasons: string[];
}

export interface Translation {
  spec: OciSpec;
  actions: MountAction[];
  report: ReportEntry[];
  /** Notes about the whole container (e.g. what a gVisor flag annotation also affects). */
  notes: string[];
}

/** One entry's translation: the mount that replaces it, the helper mount it needs, what to report, what runsc must overlay. */
export interface EntryOutcome {
  mount: OciMount;
  action?: MountAction;
  report: ReportEntry;
  selfBacked?: SandboxOverlayNeeds['selfBacked'][number];
  memoryBacked?: string;
}
