/**
 * Disk usage of a directory tree as containerd measures it: every distinct
 * inode once (hard links counted once), size from st_blocks * 512. Walks with
 * the asynchronous fs API so a large tree does not stall other requests.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DiskUsage } from './snapshot-model';

export async function measureDiskUsage(root: string): Promise<DiskUsage> {
  const seen = new Set<string>();
  let size = 0;

  const visit = async (file: string): Promise<void> => {
    const stat = await fs.lstat(file, { bigint: true });
    const key = `${stat.dev}:${stat.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      size += Number(stat.blocks) * 512;
    }
    if (stat.isDirectory()) {
      const names = await fs.readdir(file);
      await Promise.all(names.map((name) => visit(path.join(file, name))));
    }
  };

  await visit(root);
  return { size, inodes: seen.size };
}
