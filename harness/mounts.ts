/** Mounts below a directory, read from /proc/self/mountinfo, and their removal. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readMountInfo, type MountInfoEntry } from '../common/mountinfo';
import { isPathWithin } from '../common/path-within';

/** Mount points at or below dir, deepest (last mounted) first. */
export function mountsUnder(dir: string): string[] {
  return readMountInfo()
    .map((entry) => entry.mountPoint)
    .filter((point) => isPathWithin(point, dir))
    .reverse();
}

/**
 * Idmapped bind mounts containerd 2.1's shims left of layers below dir. A shim
 * idmaps an overlay's lowers through temporary mounts at $TMPDIR/ovl-idmapped*
 * (core/mount/mount_linux.go, doPrepareIDMappedOverlay) and unmounts them once
 * the overlay is made, without a retry when that fails with EBUSY
 * (containerd#12139, fixed by containerd#12114 after 2.1): after a bench of
 * remapped containers three or four of them stayed per run, outside every test
 * directory. Only mounts whose source (the mountinfo root, the host path for a
 * filesystem mounted at "/", which holds the tests' directories) lies below
 * dir: another test's are not touched.
 */
export function idmapLeftoversOf(dir: string, mounts: readonly MountInfoEntry[] = readMountInfo()): string[] {
  return mounts
    .filter((entry) => path.basename(entry.mountPoint).startsWith('ovl-idmapped') && entry.mountOptions.includes('idmapped') && isPathWithin(entry.root.replace(/\/\/deleted$/, ''), dir))
    .map((entry) => entry.mountPoint);
}

/** Everything mounted at or below dir, and containerd's idmapped leftovers of it (their empty directories removed too). */
export function unmountAllUnder(dir: string): void {
  for (const point of mountsUnder(dir)) spawnSync('umount', ['-l', point]);
  for (const point of idmapLeftoversOf(dir)) {
    if (spawnSync('umount', ['-l', point]).status !== 0) continue;
    try {
      fs.rmdirSync(point);
    } catch {
      // Not empty, or gone already: left as it is.
    }
  }
}
