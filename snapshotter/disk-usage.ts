/**
 * Disk usage of a directory tree as containerd measures it
 * (continuity's fs.DiskUsage: every distinct inode once, hard links counted
 * once, size from st_blocks * 512). Synchronous: it runs on the filesystem
 * worker thread (fs-worker.ts), where plain system calls are cheapest and the
 * event loop never waits for them.
 *
 * CRI asks this of every running container's active snapshot every
 * stats_collect_period (10 s), so it is written for speed: one readdir with
 * file types per directory and one lstat per entry, and an inode identity
 * (a bigint lstat and a set entry) only for files with more than one link,
 * the only ones another path can reach (directories cannot be hard-linked).
 * An entry that disappears during the walk (a container deleting it) is not
 * counted; the root must exist.
 */
import fs from 'node:fs';
import { errnoCode } from '../common/errors';
import type { DiskUsage } from './snapshot-model';

/** fn's answer, or absent when its path is gone (ENOENT: deleted during the walk). */
function ifPresent<T, A>(fn: () => T, absent: A): T | A {
  try {
    return fn();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return absent;
    throw error;
  }
}

const lstatIfPresent = (file: string): fs.Stats | undefined => ifPresent(() => fs.lstatSync(file), undefined);
const entriesIfPresent = (dir: string): fs.Dirent[] => ifPresent(() => fs.readdirSync(dir, { withFileTypes: true }), []);

/**
 * A measurement, the owner of its root (what a child snapshot's fs/ copies),
 * and the tree's directories when asked for (absent when there were more than asked for).
 */
export type MeasuredTree = DiskUsage & { rootOwner: { uid: number; gid: number }; directories?: string[] };

/** directoryLimit > 0: also list the directories walked (the root first), up to that many. */
export function measureDiskUsageSync(root: string, directoryLimit = 0): MeasuredTree {
  return walkTree(root, directoryLimit, entriesIfPresent)!;
}

/**
 * A directory whose st_size is at most this many bytes is read whole by the
 * walk for the event loop; a larger one is left to the measuring thread
 * unread. A directory's size grows with its entries on every filesystem an
 * upper can be on: ext4 (one 4,096-byte block holds at most 341 entries, 32
 * with names up to ~110 bytes), XFS and tmpfs (bytes per entry), btrfs (twice
 * the names' bytes: 0 when empty), ZFS (the entry count), so what one such
 * read can cost is bounded; and it is a single readdir, where a Dir read one
 * entry at a time (opendirSync) cost more than the whole walk of a small
 * upper (the Dir object's construction alone: ~100 ms of the event loop's
 * ~1.6 s in three 128-layer imports, profiled).
 */
export const SMALL_DIRECTORY_BYTES = 4096;

/**
 * The same measurement of a tree of at most entryLimit entries below its
 * root, none of its directories larger than SMALL_DIRECTORY_BYTES;
 * undefined for any other tree, without reading a directory past those
 * bounds. For the event loop: a Commit of an upper a container barely wrote
 * then costs a few system calls there instead of a round trip to the
 * measuring thread, whose wake-ups cost more CPU than such a walk (~150 µs
 * of the thread's against ~20 µs for an empty upper, on this VM).
 */
export function measureSmallTreeSync(root: string, entryLimit: number): MeasuredTree | undefined {
  let budget = entryLimit;
  return walkTree(root, 0, (dir, bytes) => {
    if (bytes > SMALL_DIRECTORY_BYTES) return undefined;
    const entries = entriesIfPresent(dir);
    budget -= entries.length;
    return budget < 0 ? undefined : entries;
  });
}

/** The walk, reading each directory with list (given its st_size); undefined as soon as list gives up. */
function walkTree(root: string, directoryLimit: number, list: (dir: string, bytes: number) => fs.Dirent[] | undefined): MeasuredTree | undefined {
  const rootStat = fs.lstatSync(root);
  const rootOwner = { uid: rootStat.uid, gid: rootStat.gid };
  let size = rootStat.blocks * 512;
  let inodes = 1;
  if (!rootStat.isDirectory()) return { size, inodes, rootOwner };
  const linked = new Set<string>();
  // Directories to read, each with its st_size.
  const pending: Array<[string, number]> = [[root, rootStat.size]];
  let directories: string[] | undefined = directoryLimit > 0 ? [] : undefined;
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [dir, bytes] = next;
    if (directories !== undefined) {
      directories.push(dir);
      if (directories.length > directoryLimit) directories = undefined;
    }
    const entries = list(dir, bytes);
    if (entries === undefined) return undefined;
    for (const entry of entries) {
      const file = `${dir}/${entry.name}`;
      const stat = lstatIfPresent(file);
      if (stat === undefined) continue;
      if (stat.isDirectory()) {
        pending.push([file, stat.size]);
      } else if (stat.nlink > 1) {
        // Numbers lose precision above 2^53: identify linked inodes exactly.
        const exact = fs.lstatSync(file, { bigint: true, throwIfNoEntry: false });
        if (exact === undefined) continue;
        const key = `${exact.dev}:${exact.ino}`;
        if (linked.has(key)) continue;
        linked.add(key);
      }
      size += stat.blocks * 512;
      inodes++;
    }
  }
  return directoryLimit > 0 && directories !== undefined ? { size, inodes, rootOwner, directories } : { size, inodes, rootOwner };
}
