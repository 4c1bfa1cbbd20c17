/**
 * Directory operations whose effect must survive a crash before the metadata
 * that names them is committed: fsync of a directory makes its new entries
 * (and renames into it) durable.
 */
import fs from 'node:fs';

export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir with an exact mode, whatever the process umask. */
export function makeDirectory(dir: string, mode: number): void {
  fs.mkdirSync(dir);
  fs.chmodSync(dir, mode);
}
