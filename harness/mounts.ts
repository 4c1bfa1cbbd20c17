/** Mounts below a directory, read from /proc/self/mountinfo, and their removal. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Mount points at or below dir, deepest (last mounted) first. */
export function mountsUnder(dir: string): string[] {
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return points.reverse();
}

export function unmountAllUnder(dir: string): void {
  for (const point of mountsUnder(dir)) spawnSync('umount', ['-l', point]);
}
