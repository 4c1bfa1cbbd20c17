/**
 * What runsc does with a spec, decided the way gVisor's own code decides it
 * (google/gvisor at release-20260817.0, commit 3c5eee17dc45), written for the
 * tests from gVisor's source and not from tsov's emitter. Per spec mount it
 * says whether runsc refuses the spec, or gives the mount no overlay, a
 * self-backed overlay (a filestore file in the mount's source) or a memory
 * overlay. Each rule names the gVisor file and function it models; release
 * knobs are the gVisor commits and releases named at each constant.
 */

interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

interface Spec {
  mounts?: Mount[];
  annotations?: Record<string, string>;
}

export interface Runsc {
  /** e.g. "release-20250611.0" */
  release: string;
  /** runsc --allow-flag-override */
  allowFlagOverride: boolean;
  /** runsc's own --overlay2 (the default since release-20230313 is root:self). */
  overlay2?: string;
}

export type OverlayFate = 'none' | 'self' | 'memory' | 'dir';

export interface MountFate {
  destination: string;
  source?: string;
  /** A gofer mount: a bind of a host directory the sandbox reaches through the gofer. */
  gofer: boolean;
  readOnly: boolean;
  overlay: OverlayFate;
}

export type RunscOutcome = { refused: string } | { mounts: MountFate[] };

/** The releases the knobs below distinguish (for "any release" checks). */
export const KNOWN_RELEASES = ['release-20231106.0', 'release-20231113.0', 'release-20241217.0', 'release-20250106.0', 'release-20250301.0', 'release-20250611.0', 'release-20260817.0'];

const HINTS_GIVE_OVERLAY_SINCE = 20231113; // commit 45220a518: a bind hint gets the self overlay
const HINT_SHARE_MUST_BE_LOCAL_SINCE = 20250611; // MountHint.IsSandboxLocal: share container|pod only
const OVERLAY2_ON_ALLOWLIST_SINCE = 20250106; // config/flags.go overrideAllowlist gains overlay2
const OVERLAY2_SIZE_SINCE = 20250611; // config/config.go Overlay2.Set accepts ",size="

const MOUNT_PREFIX = 'dev.gvisor.spec.mount.';
const FLAG_PREFIX = 'dev.gvisor.flag.';
const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';

function releaseDate(release: string): number {
  const match = /release-(\d{8})/.exec(release);
  if (match === null) throw new Error(`the oracle needs a runsc release, not ${JSON.stringify(release)}`);
  return Number(match[1]);
}

class Refused extends Error {}
const refuse = (why: string): never => {
  throw new Refused(why);
};

interface Overlay2 {
  rootMount: boolean;
  subMounts: boolean;
  medium: OverlayFate;
}

/** config/config.go Overlay2.Set: "none" | "root|all:memory|self|dir=/abs[,size=N]". */
function parseOverlay2(value: string, date: number): Overlay2 {
  if (value === 'none') return { rootMount: false, subMounts: false, medium: 'none' };
  const parts = value.split(',');
  const specifier = parts[0]!.split(':');
  if (specifier.length !== 2) refuse(`invalid --overlay2 ${value}`);
  const [mount, medium] = specifier as [string, string];
  if (mount !== 'root' && mount !== 'all') refuse(`unexpected mount specifier for --overlay2: ${mount}`);
  let fate: OverlayFate;
  if (medium === 'memory') fate = 'memory';
  else if (medium === 'self') fate = 'self';
  else if (medium.startsWith('dir=') && medium.length > 4) fate = 'dir';
  else fate = refuse(`invalid overlay medium ${medium}`);
  if (parts.length > 2) refuse(`invalid --overlay2 ${value}`);
  if (parts.length === 2 && (date < OVERLAY2_SIZE_SINCE || !parts[1]!.startsWith('size='))) refuse(`invalid --overlay2 ${value} (size= exists from release-20250611.0)`);
  return { rootMount: true, subMounts: mount === 'all', medium: fate };
}

/**
 * specutils/specutils.go FixConfig → config/flags.go Config.Override and
 * isOverrideAllowed: every dev.gvisor.flag.<name> annotation of the spec being
 * run (root or sub-container: cli/cli.go calls FixConfig for each command's spec).
 */
function applyFlagAnnotations(annotations: Record<string, string>, runsc: Runsc, date: number): Overlay2 {
  let overlay2 = parseOverlay2(runsc.overlay2 ?? 'root:self', date);
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(FLAG_PREFIX)) continue;
    const name = key.slice(FLAG_PREFIX.length);
    if (name !== 'overlay2') {
      if (!runsc.allowFlagOverride) refuse(`flag ${name}: flag override disabled, use --allow-flag-override`);
      continue;
    }
    if (!runsc.allowFlagOverride) {
      if (date < OVERLAY2_ON_ALLOWLIST_SINCE) refuse(`flag overlay2: flag override disabled, use --allow-flag-override (overlay2 is allowed without it from release-20250106.0)`);
      const parsed = parseOverlay2(value, date); // checkOverlay2: only none, memory and self without the override
      if (parsed.medium === 'dir') refuse(`"${value}" overlay medium requires flag "allow-flag-override" to be enabled`);
    }
    overlay2 = parseOverlay2(value, date);
  }
  return overlay2;
}

interface Hint {
  name: string;
  source?: string;
  type?: string;
  share?: string;
}

/** boot/mount_hints.go NewPodMountHints and MountHint.setField. */
function parseMountHints(annotations: Record<string, string>): Hint[] {
  const hints = new Map<string, Hint>();
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(MOUNT_PREFIX)) continue;
    const parts = key.slice(MOUNT_PREFIX.length).split('.');
    if (parts.length !== 2) refuse(`invalid mount annotation: ${key}=${value}`);
    const [name, field] = parts as [string, string];
    if (name === '') refuse(`invalid mount name: ${name}`);
    const hint = hints.get(name) ?? { name };
    hints.set(name, hint);
    // setField: an invalid value is logged and ignored, not fatal.
    if (field === 'source' && value !== '') hint.source = value;
    if (field === 'type' && (value === 'tmpfs' || value === 'bind')) hint.type = value;
    if (field === 'share' && ['container', 'pod', 'shared'].includes(value)) hint.share = value;
  }
  const valid = [...hints.values()].filter((h) => h.source !== undefined && h.type !== undefined && h.share !== undefined);
  for (const a of valid) {
    for (const b of valid) {
      if (a !== b && a.source === b.source) refuse(`mounts "${a.name}" and "${b.name}" have the same mount source "${a.source}"`);
    }
  }
  return valid;
}

/** specutils/specutils.go IsGoferMount (after MaybeConvertToBindMount): a bind, by type or by a bind/rbind option, with a source. */
function isGoferMount(mount: Mount): boolean {
  const bind = mount.type === 'bind' || (mount.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  return bind && (mount.source ?? '') !== '';
}

/** specutils/fs.go validateMount → ValidateMountOptions: "shared" and "rshared" are refused. */
function validateMounts(mounts: readonly Mount[]): void {
  for (const mount of mounts) {
    if (!mount.destination.startsWith('/')) refuse(`Mount.Destination must be an absolute path: ${mount.destination}`);
    if (!isGoferMount(mount)) continue;
    for (const option of mount.options ?? []) if (option === 'shared' || option === 'rshared') refuse(`mount option "${option}" is not supported`);
  }
}

export function runscOutcome(spec: Spec, runsc: Runsc): RunscOutcome {
  try {
    const date = releaseDate(runsc.release);
    const annotations = spec.annotations ?? {};
    const mounts = spec.mounts ?? [];
    const overlay2 = applyFlagAnnotations(annotations, runsc, date);
    validateMounts(mounts);
    // container/container.go: a CRI sub-container uses the sandbox's hints (c.Sandbox.MountHints), not its own.
    const subContainer = annotations[CRI_CONTAINER_TYPE] === 'container';
    const hints = subContainer ? [] : parseMountHints(annotations);
    const fates: MountFate[] = mounts.map((mount) => {
      const gofer = isGoferMount(mount);
      const readOnly = (mount.options ?? []).includes('ro');
      if (!gofer) return { destination: mount.destination, source: mount.source, gofer, readOnly, overlay: 'none' as const };
      // container.go initGoferConfs: the sub-mount medium, none for an "ro" mount, self for a sandbox-local hint.
      let overlay: OverlayFate = overlay2.subMounts && !readOnly ? overlay2.medium : 'none';
      const hint = hints.find((h) => h.source === mount.source); // PodMountHints.FindMount: source equality
      const hintCounts = hint !== undefined && hint.type === 'bind' && date >= HINTS_GIVE_OVERLAY_SINCE && (date < HINT_SHARE_MUST_BE_LOCAL_SINCE || hint.share === 'container' || hint.share === 'pod');
      if (hintCounts) overlay = 'self';
      return { destination: mount.destination, source: mount.source, gofer, readOnly, overlay };
    });
    // container.go createGoferFilestoreInSelf: O_EXCL per source; a second self-overlaid mount of one source fails.
    const selfSources = new Set<string>();
    for (const fate of fates) {
      if (fate.overlay !== 'self' || fate.source === undefined) continue;
      if (selfSources.has(fate.source)) refuse(`"${fate.source}" mount source already has a filestore file; repeated submounts are not supported with overlay optimizations`);
      selfSources.add(fate.source);
    }
    return { mounts: fates };
  } catch (error) {
    if (error instanceof Refused) return { refused: error.message };
    throw error;
  }
}

/**
 * The invariant tsov's runsc translations must keep: no writable bind of a host
 * directory that is a layer of a spec overlay entry (a lower or an upper) that
 * runsc does not overlay. Returns the offending mounts (empty = kept).
 */
export function writableHostLayerBinds(outcome: RunscOutcome, hostLayers: ReadonlySet<string>): string[] {
  if ('refused' in outcome) return [];
  return outcome.mounts
    .filter((m) => m.gofer && !m.readOnly && m.overlay === 'none' && m.source !== undefined && hostLayers.has(m.source))
    .map((m) => `${m.destination}: a writable bind of ${m.source} without an overlay (writes reach the host directory)`);
}
