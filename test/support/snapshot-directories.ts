/**
 * What is under a snapshotter root's snapshots/, judged against its metadata
 * (read from a copy: metadata-copy.ts). tsov-snapshotter keeps
 * SPARE_DIRECTORIES empty snapshot directories there for Prepare (up to
 * MAX_SPARE_DIRECTORIES once concurrent Prepares have emptied the pool), each under
 * an id no record names yet (snapshotter/spare-directories.ts): a directory
 * no record names is a spare when it is shaped as one (harness/spare-shape.ts),
 * and stray otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isSpareShaped } from '../../harness/spare-shape';
import { MAX_SPARE_DIRECTORIES } from '../../snapshotter/snapshot-service';
import { readMetadataCopy } from './metadata-copy';

export interface SnapshotDirectories {
  /** Named by a record. */
  named: string[];
  /** Named by none, and shaped as a spare. */
  spares: string[];
  /** Named by none, and not a spare: what Cleanup should have removed, or a leak. */
  stray: string[];
}

/** The ids of every snapshot the root's metadata records. */
export function recordIds(root: string): number[] {
  return readMetadataCopy(path.join(root, 'metadata.db'), (db) => (db.prepare('SELECT id FROM snapshots').all() as Array<{ id: number }>).map((row) => row.id));
}

export function snapshotDirectories(root: string): SnapshotDirectories {
  const ids = new Set(recordIds(root).map(String));
  const result: SnapshotDirectories = { named: [], spares: [], stray: [] };
  const snapshots = path.join(root, 'snapshots');
  for (const name of fs.readdirSync(snapshots).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b))) {
    if (ids.has(name)) result.named.push(name);
    else if (isSpareShaped(path.join(snapshots, name))) result.spares.push(name);
    else result.stray.push(name);
  }
  return result;
}

/**
 * What should not be under snapshots/: the stray directories, and a line
 * saying so when there are more spares than the MAX_SPARE_DIRECTORIES a
 * daemon's pool grows to. Empty when all is well.
 */
export function unexpectedDirectories(root: string): string[] {
  const { stray, spares } = snapshotDirectories(root);
  return spares.length > MAX_SPARE_DIRECTORIES ? [...stray, `${spares.length} spare directories (${spares.join(' ')}), more than the ${MAX_SPARE_DIRECTORIES} a daemon's pool grows to`] : stray;
}
