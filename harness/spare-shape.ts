/**
 * Whether a directory under a snapshotter's snapshots/ looks like one of
 * tsov-snapshotter's spares (snapshotter/spare-directories.ts): exactly an
 * empty fs/ and an empty work/, with the modes the snapshotter makes them
 * with. A freshly prepared, unwritten snapshot looks the same; only the
 * metadata tells the two apart (a spare has no record).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FS_DIR_MODE, SNAPSHOT_DIR_MODE, WORK_DIR_MODE } from '../snapshotter/durable-fs';

export function isSpareShaped(dir: string): boolean {
  const mode = (file: string) => fs.lstatSync(file).mode & 0o7777;
  try {
    return (
      fs.readdirSync(dir).sort().join(',') === 'fs,work' &&
      fs.readdirSync(path.join(dir, 'fs')).length === 0 &&
      fs.readdirSync(path.join(dir, 'work')).length === 0 &&
      mode(dir) === SNAPSHOT_DIR_MODE &&
      mode(path.join(dir, 'fs')) === FS_DIR_MODE &&
      mode(path.join(dir, 'work')) === WORK_DIR_MODE
    );
  } catch {
    return false;
  }
}
