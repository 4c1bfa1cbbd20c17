/**
 * Making a snapshot directory, durably: snapshots/<id> (or a spare) with fs/
 * and, for an active snapshot, work/, each with its exact mode; fs/ owned
 * like the parent's fs/ when that differs from this process; then an fsync of
 * the directory so its entries survive a crash. Synchronous: it runs on the
 * filesystem worker thread (fs-worker.ts), never on the event loop (the one
 * other caller, the metadata store, fsyncs its directory once at open). On
 * the event loop each of these calls would be a thread-pool dispatch, about
 * 40 µs of the loop's time apiece on a 2-vCPU VM (profiled): spares are made
 * there in batches, one message for several.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Stats } from 'node:fs';

const SNAPSHOT_DIR_MODE = 0o700;
const FS_DIR_MODE = 0o755;
const WORK_DIR_MODE = 0o711;

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
}

export function makeSnapshotDirectorySync(request: SnapshotDirectoryRequest): void {
  makeDirectorySync(request.dir, SNAPSHOT_DIR_MODE);
  const fsDir = path.join(request.dir, 'fs');
  makeDirectorySync(fsDir, FS_DIR_MODE);
  if (request.owner !== undefined) fs.lchownSync(fsDir, request.owner.uid, request.owner.gid);
  if (request.kind === 'active') makeDirectorySync(path.join(request.dir, 'work'), WORK_DIR_MODE);
  fsyncDirectory(request.dir);
}

/** fsync(2) of a directory: its new entries (and renames into it) survive a crash. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir with an exact mode, whatever the process umask (chmod only when the umask masks bits of it). */
function makeDirectorySync(dir: string, mode: number): void {
  fs.mkdirSync(dir, { mode });
  if ((mode & UMASK) !== 0) fs.chmodSync(dir, mode);
}

/** A child's fs starts owned like its parent's (as containerd's overlayfs snapshotter does): the owner to set, if it is not this process. */
export function ownerToCopy(parent: Pick<Stats, 'uid' | 'gid'>): SnapshotDirectoryRequest['owner'] {
  if (parent.uid === EUID && parent.gid === EGID) return undefined;
  return { uid: parent.uid, gid: parent.gid };
}
