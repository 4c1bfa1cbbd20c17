import fs from 'node:fs';

/** fsync(2) of a directory: its new entries (and renames into it) survive a crash. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
