/**
 * The gVisor (runsc) side of sandbox mode: which annotations ask runsc to
 * overlay a bind mount inside the sandbox, and whether the configured runsc
 * version accepts them (gVisor: runsc/boot/mount_hints.go, runsc/config/flags.go,
 * runsc/container/container.go; the release knobs at each constant). Pure.
 *
 * - A self-backed upper for one bind mount: mount hints
 *   dev.gvisor.spec.mount.<NAME>.{source,type=bind,share=container}.
 * - A memory upper: the flag annotation dev.gvisor.flag.overlay2=all:memory,
 *   which covers the rootfs and every writable bind mount of the container.
 * - A rootfs overlay when the policy asks: dev.gvisor.flag.overlay2=root:MEDIUM.
 */
import { InvalidArgumentError } from '../../common/errors';
import type { RuntimeSettings, SandboxMedium } from '../../policy/translation-policy';

/** runsc accepts `none`, `*:memory`, `*:self` flag annotations without --allow-flag-override from this release on (config/flags.go overrideAllowlist). */
export const FLAG_ANNOTATIONS_FREE_SINCE = 20250106;
/** `--overlay2=...,size=` exists from this release on (config/config.go Overlay2.Set). */
export const OVERLAY2_SIZE_SINCE = 20250611;
/** A `bind` mount hint gives the mount a self-backed overlay from this release on (gVisor commit 45220a518). */
export const HINT_OVERLAY_SINCE = 20231113;

export const OVERLAY2_FLAG = 'dev.gvisor.flag.overlay2';
export const FLAG_PREFIX = 'dev.gvisor.flag.';
export const MOUNT_HINT_PREFIX = 'dev.gvisor.spec.mount.';
/** containerd's CRI marks a pod's application containers so; the pod sandbox is "sandbox". */
export const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';

/**
 * Why runsc would not heed a mount hint in this container's spec, or
 * undefined when it would: hints give an overlay only from release-20231113.0,
 * and a CRI sub-container's are never read (runsc/container/container.go uses
 * the pod sandbox's hints, c.Sandbox.MountHints). Pure.
 */
export function unheededMountHint(runtime: RuntimeSettings, specAnnotations: Readonly<Record<string, string>>): string | undefined {
  if (specAnnotations[CRI_CONTAINER_TYPE] === 'container') {
    return `this is a CRI sub-container (${CRI_CONTAINER_TYPE}: container), and runsc reads mount hints from the pod sandbox's spec only (container.go, c.Sandbox.MountHints)`;
  }
  const date = runscReleaseDate(runtime.runscVersion);
  if (date === undefined) return 'the runsc release is unknown (set runtime.runsc_version to `runsc --version`): before release-20231113.0 a bind hint gives no overlay';
  if (date < HINT_OVERLAY_SINCE) return `${runtime.runscVersion} predates release-20231113.0, before which a bind hint gives no overlay`;
  return undefined;
}

/** The release date of a runsc version string ("release-20250611.0", "runsc version release-20250611.0"), or undefined. */
export function runscReleaseDate(version: string | undefined): number | undefined {
  const match = /release-(\d{8})(?:\.\d+)?/.exec(version ?? '');
  return match === null ? undefined : Number(match[1]);
}

export interface SandboxOverlayNeeds {
  /** Bind mounts to overlay with a self-backed upper: hint name, the bind's exact source and destination. */
  selfBacked: Array<{ name: string; source: string; where: string; destination: string }>;
  /** Entries that need a memory upper (one flag covers them all). */
  memoryBacked: string[];
  rootfs: 'none' | SandboxMedium;
  memoryBytes: number;
}

export interface GvisorAnnotations {
  annotations: Record<string, string>;
  notes: string[];
}

/** What the rest of the translated spec holds: its annotations before tsov, and its mounts after. */
export interface SpecContext {
  annotations: Readonly<Record<string, string>>;
  mounts: ReadonlyArray<{ destination: string; source?: string }>;
}

/** The existing hints' sources by hint name (boot/mount_hints.go: dev.gvisor.spec.mount.<NAME>.source). */
function existingHintSources(annotations: Readonly<Record<string, string>>): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith(MOUNT_HINT_PREFIX) && key.endsWith('.source')) sources.set(key.slice(MOUNT_HINT_PREFIX.length, -'.source'.length), value);
  }
  return sources;
}

/**
 * A self-backed hint must be the only thing runsc matches to its source:
 * runsc applies a hint to every mount with that source (PodMountHints.FindMount)
 * and refuses a second self-overlaid mount of one source ("repeated submounts",
 * container.go createGoferFilestoreInSelf), and two hints with one source are
 * fatal (NewPodMountHints).
 */
function selfHintProblems(hint: SandboxOverlayNeeds['selfBacked'][number], spec: SpecContext, existing: Map<string, string>): string[] {
  const problems: string[] = [];
  const others = spec.mounts.filter((m) => m.source === hint.source).map((m) => m.destination);
  if (others.length > 1) {
    problems.push(
      `${hint.where}: its lower ${hint.source} is also the source of ${others.filter((d) => d !== hint.destination).join(', ')}; runsc would apply the hint to every mount of that source and refuse the second overlay: bind the lower once, or use mode host or sandbox medium memory`,
    );
  }
  for (const [name, source] of existing) {
    if (source === hint.source) problems.push(`${hint.where}: the spec already has the mount hint ${MOUNT_HINT_PREFIX}${name} for ${source}; runsc refuses two hints with one source: drop it, or use mode host`);
    if (name === hint.name) problems.push(`${hint.where}: the spec already uses the mount hint name ${name}; rename it`);
  }
  return problems;
}

/**
 * The spec's own flag annotations where the configured release is known to
 * refuse them (a flag annotation runsc does not allow fails the creation,
 * config/flags.go isOverrideAllowed): tsov would hand runsc a spec it rejects.
 */
function existingFlagProblems(spec: SpecContext, runtime: RuntimeSettings): string[] {
  const flags = Object.keys(spec.annotations).filter((key) => key.startsWith(FLAG_PREFIX));
  const date = runscReleaseDate(runtime.runscVersion);
  if (flags.length === 0 || runtime.runscAllowFlagOverride || date === undefined) return [];
  const blocked = flags.filter((key) => key !== OVERLAY2_FLAG || date < FLAG_ANNOTATIONS_FREE_SINCE);
  if (blocked.length === 0) return [];
  return [`the spec's own ${blocked.join(', ')} make${blocked.length === 1 ? 's' : ''} container creation fail on ${runtime.runscVersion} without --allow-flag-override; set runtime.runsc_allow_flag_override after adding the flag to runsc, or drop the annotation`];
}

export function gvisorAnnotations(needs: SandboxOverlayNeeds, runtime: RuntimeSettings, spec: SpecContext): GvisorAnnotations {
  const annotations: Record<string, string> = {};
  const notes: string[] = [];
  const problems: string[] = [...existingFlagProblems(spec, runtime)];
  const existing = existingHintSources(spec.annotations);
  const sources = new Map<string, string>();
  for (const hint of needs.selfBacked) {
    const other = sources.get(hint.source);
    if (other !== undefined) {
      problems.push(`${hint.where} and ${other} have the same source ${hint.source}; runsc cannot overlay one source twice in a sandbox (two hints with one source are fatal)`);
      continue;
    }
    sources.set(hint.source, hint.where);
    const hintProblems = selfHintProblems(hint, spec, existing);
    problems.push(...hintProblems);
    if (hintProblems.length > 0) continue;
    annotations[`${MOUNT_HINT_PREFIX}${hint.name}.source`] = hint.source;
    annotations[`${MOUNT_HINT_PREFIX}${hint.name}.type`] = 'bind';
    annotations[`${MOUNT_HINT_PREFIX}${hint.name}.share`] = 'container';
  }

  let flag: string | undefined;
  if (needs.memoryBacked.length > 0) {
    if (needs.rootfs === 'self') {
      problems.push(`${needs.memoryBacked.join(', ')} need a memory upper (${OVERLAY2_FLAG}=all:memory), which also puts the rootfs overlay in memory, but the policy asks for a self-backed rootfs overlay; use sandbox medium self for the entries or rootfs overlay memory`);
    }
    flag = 'all:memory';
    notes.push(`${OVERLAY2_FLAG}=all:memory also overlays the rootfs and every other writable bind mount of this container in memory`);
  } else if (needs.rootfs !== 'none') {
    flag = `root:${needs.rootfs}`;
  }

  if (flag !== undefined) {
    const date = runscReleaseDate(runtime.runscVersion);
    const shown = runtime.runscVersion ?? 'an unknown runsc version';
    if (date === undefined || date < FLAG_ANNOTATIONS_FREE_SINCE) {
      if (runtime.runscAllowFlagOverride) {
        notes.push(`${shown} reads ${OVERLAY2_FLAG} only with --allow-flag-override, which the policy says runsc runs with`);
      } else {
        problems.push(
          `${shown} fails to create the container with ${OVERLAY2_FLAG} unless runsc runs with --allow-flag-override (release-20250106 and later accept ${flag} without it); set runtime.runsc_version to the installed release, upgrade runsc, or set runtime.runsc_allow_flag_override after adding the flag`,
        );
      }
    }
    const medium = flag.split(':')[1];
    if (medium === 'memory') {
      if (date !== undefined && date >= OVERLAY2_SIZE_SINCE) {
        flag += `,size=${needs.memoryBytes}`;
      } else {
        notes.push(`no size limit for the memory upper: ${shown} predates ${OVERLAY2_FLAG} size= (release-20250611)`);
      }
    }
    const present = spec.annotations[OVERLAY2_FLAG];
    if (present !== undefined && present !== flag) {
      problems.push(`the spec already sets ${OVERLAY2_FLAG}=${present}, and tsov needs ${flag}; remove it from the spec or change the policy's sandbox settings`);
    }
    annotations[OVERLAY2_FLAG] = flag;
  }
  if (problems.length > 0) throw new InvalidArgumentError(problems.join('; '));
  return { annotations, notes };
}
