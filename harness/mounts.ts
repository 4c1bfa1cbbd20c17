/** Mounts below a directory, read from /proc/self/mountinfo, and their removal. */
import { spawnSync } from 'node:child_process';
import { readMountInfo } from '../common/mountinfo';
import { isPathWithin } from '../common/path-within';

/** Mount points at or below dir, deepest (last mounted) first. */
export function mountsUnder(dir: string): string[] {
  return readMountInfo()
    .map((entry) => entry.mountPoint)
    .filter((point) => isPathWithin(point, dir))
    .reverse();
}

export function unmountAllUnder(dir: string): void {
  for (const point of mountsUnder(dir)) spawnSync('umount', ['-l', point]);
}
