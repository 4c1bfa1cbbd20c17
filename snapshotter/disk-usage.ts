/**
 * Disk usage of a directory tree as containerd measures it: every distinct
 * inode once (hard links counted once), size from st_blocks * 512.
 * Synchronous: it runs on the filesystem worker thread (fs-worker.ts), where
 * plain system calls are cheapest and the event loop never waits for them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DiskUsage } from './snapshot-model';

export function measureDiskUsageSync(root: string): DiskUsage {
  const seen = new Set<string>();
  let size = 0;
  const pending = [root];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    const stat = fs.lstatSync(file, { bigint: true });
    const key = `${stat.dev}:${stat.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += Number(stat.blocks) * 512;
    }
    if (stat.isDirectory()) for (const name of fs.readdirSync(file)) pending.push(path.join(file, name));
  }
  return { size, inodes: seen.size };
}
