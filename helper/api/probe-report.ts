/**
 * What a probe found out about one backing filesystem, and the pure decisions
 * taken from it. Check names are stable: the translator and `tsov probe` look
 * them up.
 */
import type { ProbeCheckName } from './overlay-options';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** The kernel's overlayfs: lines logged during the check. */
  kernelLog: string[];
}

export interface ProbeReport {
  directory: string;
  device: number;
  filesystem: string;
  filesystemMagic: number;
  kernelRelease: string;
  moduleParameters: Record<string, string>;
  upperChecks: Check[];
  mountChecks: Check[];
  fuseOverlayfs: Check;
  probedAtMs: number;
  cached: boolean;
}

export function findCheck(report: ProbeReport, name: ProbeCheckName): Check | undefined {
  return [...report.upperChecks, ...report.mountChecks, report.fuseOverlayfs].find((check) => check.name === name);
}

/** The name of the basic kernel overlay check (one lower, upper, work). */
export const BASIC_MOUNT_CHECK: ProbeCheckName = 'mount:overlay';

/** The check that tells whether overlay lowers may be idmapped mounts (user-namespaced containers on shared layers). */
export const IDMAPPED_LOWERS_CHECK: ProbeCheckName = 'mount:idmapped-lowers';

/** Whether containerd's uid/gid mapping labels can be served with idmapped layers on this filesystem, and why. Pure. */
export function idmappedLayersSupport(report: ProbeReport): { ok: boolean; reason: string } {
  const check = findCheck(report, IDMAPPED_LOWERS_CHECK);
  if (check === undefined) return { ok: false, reason: `tsov-helper's probe of ${report.directory} has no ${IDMAPPED_LOWERS_CHECK} check (an older tsov-helper?); restart tsov-helper` };
  const where = `${report.filesystem} (${report.directory}), kernel ${report.kernelRelease}`;
  return check.ok ? { ok: true, reason: `idmapped overlay lowers work on ${where}` } : { ok: false, reason: `idmapped overlay lowers do not work on ${where}: ${check.detail}` };
}

/**
 * Why a test mount failed, in words. The overlay's own fs-context messages
 * (read from its descriptor by tsov-mount) are this mount's; /dev/kmsg holds
 * every mount's, other processes' included, so its lines only follow the
 * mounter's message as what the kernel logged meanwhile. Pure.
 */
export function failedMountDetail(message: string, ownKernelLines: readonly string[], kernelLinesMeanwhile: readonly string[]): string {
  if (ownKernelLines.length > 0) return `mount failed: ${ownKernelLines.join(' | ')}`;
  const meanwhile = kernelLinesMeanwhile.length > 0 ? `; the kernel logged meanwhile: ${kernelLinesMeanwhile.join(' | ')}` : '';
  return `mount failed: ${message}${meanwhile}`;
}

/** The backend `auto` picks on this filesystem, and why. */
export function chooseAutoBackend(report: ProbeReport): { backend: 'kernel' | 'fuse'; reason: string } | { backend: undefined; reason: string } {
  const kernel = findCheck(report, BASIC_MOUNT_CHECK);
  if (kernel?.ok === true) return { backend: 'kernel', reason: `kernel overlay works on ${report.filesystem} (${report.directory})` };
  const why = kernel === undefined ? 'was not probed' : `failed: ${kernel.detail}`;
  if (report.fuseOverlayfs.ok) return { backend: 'fuse', reason: `kernel overlay on ${report.filesystem} ${why}; fuse-overlayfs works` };
  return { backend: undefined, reason: `kernel overlay on ${report.filesystem} ${why}, and fuse-overlayfs does not work: ${report.fuseOverlayfs.detail}` };
}

/**
 * Upper-filesystem facts the kernel itself checks when it mounts an overlay and
 * reports only as warnings (the mount still succeeds): d_type, RENAME_WHITEOUT,
 * xattrs, O_TMPFILE. Read from the basic check's kernel lines.
 */
export function kernelWarningChecks(lines: readonly string[], mounted: boolean): Check[] {
  const warning = (pattern: RegExp) => lines.find((line) => pattern.test(line));
  const facts: Array<[string, RegExp, string]> = [
    ['d_type', /d_type/, 'readdir reports file types (overlayfs needs them to see whiteouts)'],
    ['rename-whiteout', /RENAME_WHITEOUT/, 'rename(RENAME_WHITEOUT) works (deleting lower files needs it)'],
    ['upper-xattr', /does not support xattr/, 'overlayfs can set its xattrs on the upper (opaque dirs, redirects, index)'],
    ['tmpfile', /tmpfile/, 'O_TMPFILE works (atomic copy-up)'],
  ];
  return facts.map(([name, pattern, what]): Check => {
    if (!mounted) return { name, ok: false, detail: `unknown: the basic overlay mount failed, so the kernel did not check whether ${what}`, kernelLog: [] };
    const line = warning(pattern);
    return line === undefined
      ? { name, ok: true, detail: `the kernel found at mount time that ${what}`, kernelLog: [] }
      : { name, ok: false, detail: `the kernel warned at mount time: ${line}`, kernelLog: [line] };
  });
}
