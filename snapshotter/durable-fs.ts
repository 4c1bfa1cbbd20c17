/**
 * Making a snapshot directory, durably: snapshots/<id> (a snapshot's, or a
 * spare's) with fs/ and, for an active snapshot, work/, each with its exact mode; fs/ owned
 * like the parent's fs/ when that differs from this process (then fs/ is
 * fsynced for its owner); then an fsync of the directory so its entries
 * survive a crash. One sequence of calls, made
 * with synchronous system calls on the filesystem worker thread
 * (fs-worker.ts) or with the thread pool's from the event loop. On the event
 * loop each call is a thread-pool dispatch, about 40 µs of the loop's time
 * apiece on a 2-vCPU VM under load (profiled): while serving, spares are made
 * on the worker in batches, one message for several; the first ones, at start,
 * on the thread pool, so that a snapshotter that has done nothing since start
 * runs no worker thread (the metadata store fsyncs its directory once at open).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { fsyncDirectory } from '../common/fsync-directory';

/** The modes of snapshots/<id>, its fs/ and its work/ (also what tells a spare by its shape: harness/spare-shape.ts). */
export const SNAPSHOT_DIR_MODE = 0o700;
export const FS_DIR_MODE = 0o755;
export const WORK_DIR_MODE = 0o711;

/** This process's ids, read once (each call is a system call). */
const EUID = process.geteuid?.();
const EGID = process.getegid?.();

/** The process umask, read once (from /proc: process.umask() without an argument is deprecated). */
const UMASK = Number.parseInt(/^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '777', 8);

export interface SnapshotDirectoryRequest {
  dir: string;
  kind: 'active' | 'view';
  /** The parent fs/'s owner, when it differs from this process's (containerd's overlayfs copies it). */
  owner?: { uid: number; gid: number };
  /**
   * An active snapshot's only: a removed snapshot's directory whose wrapper and
   * work/ dir may be made from, if calls can reuse one (reused-directories.ts).
   */
  reuse?: string;
}

/** The system calls making a directory takes, synchronous or through the thread pool. */
export interface DirectoryCalls {
  mkdir(dir: string, mode: number): void | Promise<unknown>;
  chmod(dir: string, mode: number): void | Promise<void>;
  lchown(file: string, uid: number, gid: number): void | Promise<void>;
  fsyncDirectory(dir: string): void | Promise<void>;
  /**
   * Makes `to` from the removed snapshot's directory `from` (its wrapper and
   * work/, if it had one; never its fs/), or answers undefined having changed
   * nothing. Only the worker thread's calls can (reused-directories.ts).
   */
  reuse?(from: string, to: string): { hasWork: boolean } | undefined;
}

/** Synchronous calls (the worker thread; its jobs run one at a time). */
export const SYNC_CALLS: DirectoryCalls = {
  mkdir: (dir, mode) => fs.mkdirSync(dir, { mode }),
  chmod: (dir, mode) => fs.chmodSync(dir, mode),
  lchown: (file, uid, gid) => fs.lchownSync(file, uid, gid),
  fsyncDirectory: (dir) => fsyncDirectory(dir),
};

/** Calls on libuv's thread pool (the event loop). */
export const THREAD_POOL_CALLS: DirectoryCalls = {
  mkdir: (dir, mode) => fsp.mkdir(dir, { mode }),
  chmod: (dir, mode) => fsp.chmod(dir, mode),
  lchown: (file, uid, gid) => fsp.lchown(file, uid, gid),
  fsyncDirectory: async (dir) => {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

export async function makeSnapshotDirectory(calls: DirectoryCalls, request: SnapshotDirectoryRequest): Promise<void> {
  await makeSnapshotDirectories(calls, [request]);
}

/**
 * Several, made first and fsynced after, each directory once: on a
 * journalling filesystem the first fsync commits the entries of all of them,
 * and the others find nothing left to write (ext4 here: 30% less time per
 * directory in batches of 16 than making and fsyncing each in turn). The
 * contract is the same as one by one: each is fsynced after its entries are
 * made, before the call resolves. With `parent` (the directory that holds
 * them all: snapshots/), it is fsynced last, once, so that the directories'
 * own entries in it survive a crash too (spares: Prepare names one in a
 * record without syncing anything but the record); that fsync also makes
 * durable the renames of reused directories. Resolves with how many were
 * made from removed snapshots' directories.
 */
export async function makeSnapshotDirectories(calls: DirectoryCalls, requests: readonly SnapshotDirectoryRequest[], parent?: string): Promise<number> {
  let reused = 0;
  for (const request of requests) {
    const from = request.kind === 'active' ? request.reuse : undefined;
    const made = from === undefined ? undefined : calls.reuse?.(from, request.dir);
    if (made === undefined) await makeDirectory(calls, request.dir, SNAPSHOT_DIR_MODE);
    else reused++;
    const fsDir = path.join(request.dir, 'fs');
    await makeDirectory(calls, fsDir, FS_DIR_MODE);
    if (request.owner !== undefined) await calls.lchown(fsDir, request.owner.uid, request.owner.gid);
    if (request.kind === 'active' && made?.hasWork !== true) await makeDirectory(calls, path.join(request.dir, 'work'), WORK_DIR_MODE);
  }
  for (const request of requests) {
    // fs/'s new owner is its inode's, not an entry of the directory: on a filesystem whose
    // fsync of a directory forces only that directory's changes (XFS's log, btrfs's log
    // tree), it survives a crash only with an fsync of its own.
    if (request.owner !== undefined) await calls.fsyncDirectory(path.join(request.dir, 'fs'));
    await calls.fsyncDirectory(request.dir);
  }
  if (parent !== undefined) await calls.fsyncDirectory(parent);
  return reused;
}

/** mkdir with an exact mode, whatever the process umask (chmod only when the umask masks bits of it). */
async function makeDirectory(calls: DirectoryCalls, dir: string, mode: number): Promise<void> {
  await calls.mkdir(dir, mode);
  if ((mode & UMASK) !== 0) await calls.chmod(dir, mode);
}

/** A child's fs starts owned like its parent's (as containerd's overlayfs snapshotter does): the owner to set, if it is not this process. */
export function ownerToCopy(parent: Pick<Stats, 'uid' | 'gid'>): SnapshotDirectoryRequest['owner'] {
  if (parent.uid === EUID && parent.gid === EGID) return undefined;
  return { uid: parent.uid, gid: parent.gid };
}
