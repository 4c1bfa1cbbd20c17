/**
 * The gVisor (runsc) side of sandbox mode: which annotations ask runsc to
 * overlay a bind mount inside the sandbox, and whether the configured runsc
 * version accepts them (REFERENCE.md, "gVisor (runsc) facts"). Pure.
 *
 * - A self-backed upper for one bind mount: mount hints
 *   dev.gvisor.spec.mount.<NAME>.{source,type=bind,share=container}.
 * - A memory upper: the flag annotation dev.gvisor.flag.overlay2=all:memory,
 *   which covers the rootfs and every writable bind mount of the container.
 * - A rootfs overlay when the policy asks: dev.gvisor.flag.overlay2=root:MEDIUM.
 */
import { InvalidArgumentError } from '../../common/errors';
import type { RuntimeSettings, SandboxMedium } from '../../policy/translation-policy';

/** runsc accepts `none`, `*:memory`, `*:self` flag annotations without --allow-flag-override from this release on. */
export const FLAG_ANNOTATIONS_FREE_SINCE = 20250106;
/** `--overlay2=...,size=` exists from this release on. */
export const OVERLAY2_SIZE_SINCE = 20250611;

export const OVERLAY2_FLAG = 'dev.gvisor.flag.overlay2';
export const MOUNT_HINT_PREFIX = 'dev.gvisor.spec.mount.';

/** The release date of a runsc version string ("release-20250611.0", "runsc version release-20250611.0"), or undefined. */
export function runscReleaseDate(version: string | undefined): number | undefined {
  const match = /release-(\d{8})(?:\.\d+)?/.exec(version ?? '');
  return match === null ? undefined : Number(match[1]);
}

export interface SandboxOverlayNeeds {
  /** Bind mounts to overlay with a self-backed upper: hint name and the bind's exact source. */
  selfBacked: Array<{ name: string; source: string; where: string }>;
  /** Entries that need a memory upper (one flag covers them all). */
  memoryBacked: string[];
  rootfs: 'none' | SandboxMedium;
  memoryBytes: number;
}

export interface GvisorAnnotations {
  annotations: Record<string, string>;
  notes: string[];
}

export function gvisorAnnotations(needs: SandboxOverlayNeeds, runtime: RuntimeSettings): GvisorAnnotations {
  const annotations: Record<string, string> = {};
  const notes: string[] = [];
  const problems: string[] = [];
  const sources = new Map<string, string>();
  for (const hint of needs.selfBacked) {
    const other = sources.get(hint.source);
    if (other !== undefined) {
      problems.push(`${hint.where} and ${other} have the same source ${hint.source}; runsc cannot overlay one source twice in a sandbox (two hints with one source are fatal)`);
      continue;
    }
    sources.set(hint.source, hint.where);
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
          `${shown} ignores ${OVERLAY2_FLAG} unless runsc runs with --allow-flag-override (release-20250106 and later accept ${flag} without it); set runtime.runsc_version to the installed release, upgrade runsc, or set runtime.runsc_allow_flag_override after adding the flag`,
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
    annotations[OVERLAY2_FLAG] = flag;
  }
  if (problems.length > 0) throw new InvalidArgumentError(problems.join('; '));
  return { annotations, notes };
}
