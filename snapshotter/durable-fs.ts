/**
 * Making a snapshot directory, durably: snapshots/<id> (or a spare) with fs/
 * and, for an active snapshot, work/, each with its exact mode; fs/ owned
 * like the parent's fs/ when that differs from this process; then an fsync of
 * the directory so its entries survive a crash. On libuv's thread pool: fs/
 * and work/ are made side by side. (Spares are made in the background, and
 * Prepare makes one in place only when none is ready: a worker thread kept
 * alive for these few calls cost more memory than its messages saved.)
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
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

export async function makeSnapshotDirectory(request: SnapshotDirectoryRequest): Promise<void> {
  await makeDirectory(request.dir, SNAPSHOT_DIR_MODE);
  const fsDir = path.join(request.dir, 'fs');
  const owned = makeDirectory(fsDir, FS_DIR_MODE).then(() => (request.owner === undefined ? undefined : fsp.lchown(fsDir, request.owner.uid, request.owner.gid)));
  await Promise.all([owned, request.kind === 'active' ? makeDirectory(path.join(request.dir, 'work'), WORK_DIR_MODE) : undefined]);
  const handle = await fsp.open(request.dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync(2) of a directory: its new entries (and renames into it) survive a crash. Synchronous: for start-up. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir with an exact mode, whatever the process umask (chmod only when the umask masks bits of it). */
async function makeDirectory(dir: string, mode: number): Promise<void> {
  await fsp.mkdir(dir, { mode });
  if ((mode & UMASK) !== 0) await fsp.chmod(dir, mode);
}

/** A child's fs starts owned like its parent's (as containerd's overlayfs snapshotter does): the owner to set, if it is not this process. */
export function ownerToCopy(parent: Pick<Stats, 'uid' | 'gid'>): SnapshotDirectoryRequest['owner'] {
  if (parent.uid === EUID && parent.gid === EGID) return undefined;
  return { uid: parent.uid, gid: parent.gid };
}
