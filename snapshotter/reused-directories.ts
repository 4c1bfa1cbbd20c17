/**
 * A removed snapshot's directory reused for a spare: its wrapper
 * (snapshots/<id>) and work/ are renamed to the spare's id, and only fs/ is
 * made new. Its old fs/ goes back under the removed snapshot's name, to be
 * deleted like any removed directory (deferred-removals.ts).
 *
 * Why: on ext4 an inode allocation skips every inode of its group freed in the
 * last 60 s (300 s more while the inode table block is dirty) when the
 * filesystem has no journal (fs/ext4/ialloc.c, find_inode_bit and
 * recently_deleted), one buffer lookup each. Where containers come and go,
 * snapshots are removed and made at the same rate, and each mkdir pays for the
 * last minutes' deletions: on this kind of VM (ext4 without a journal) 22 µs
 * per mkdir with no deletion behind it, 107 µs after 6,000, 150 µs in the
 * middle of the bench. Reusing two of the three directories makes two fewer
 * inodes to allocate and two fewer to free per snapshot.
 *
 * fs/ is never reused: a container could have left xattrs (trusted.overlay.opaque
 * would hide every lower), ACLs (default ACLs are inherited by new files) or
 * inode flags on it, and none of those can be read or cleared from Node. The
 * wrapper and work/ are never shown to a container. They are reused only with
 * exactly the shape the snapshotter gives them (durable-fs.ts): a directory
 * of this process's uid and gid with its mode, holding fs/ and work/ and
 * nothing else; work/ holding nothing, or only the work/ the kernel's overlay
 * makes in it, which the overlay empties and makes again at every mount
 * (fs/overlayfs/super.c, ovl_workdir_create). Anything else (an index/ of
 * index=on, a mode someone changed) and the directory is deleted as before.
 *
 * containerd unmounts a snapshot before removing it. A snapshot removed while
 * still mounted (ctr snapshots rm of a running container's) loses its upper to
 * the deletion with containerd's own snapshotter; tsov keeps it until nothing
 * mounts it (deferred-removals.ts). Its work/ must not meanwhile
 * serve a new snapshot's overlay, which the kernel would mount beside the old
 * one with index=off (what tsov's mounts ask for where the kernel has the
 * option), only warning that the workdir is in use by another mount
 * (fs/overlayfs/super.c, ovl_report_in_use). So a directory whose fs/ or work/
 * a live overlay names as its upperdir or workdir in the mount table is not
 * reused (mountedAt), and none is when the table cannot be read. The tables
 * read are this process's and the node's (PID 1's: readNodeMountInfoText): a
 * mount made only in a third namespace is not seen. The kernel shows those
 * options as they were given, and containerd gives the paths of Prepare's
 * and Mounts' replies.
 */
import fs from 'node:fs';
import { SNAPSHOT_DIR_MODE, WORK_DIR_MODE } from './durable-fs';

/** What reuse judges of a directory: lstat's answer and its entries. */
export interface DirectoryShape {
  isDirectory: boolean;
  /** The permission bits, with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  entries: readonly string[];
}

export type ReuseDecision = { reuse: true; hasFs: boolean; hasWork: boolean } | { reuse: false; reason: string };

const octal = (mode: number) => `0${mode.toString(8)}`;

/** Whether a removed snapshot's wrapper (and its work/, if it has one) can serve a spare. */
export function reuseDecision(wrapper: DirectoryShape, work: DirectoryShape | undefined, owner: { uid: number; gid: number }): ReuseDecision {
  const shapeProblem = (what: string, shape: DirectoryShape, mode: number, allowed: readonly string[]): string | undefined => {
    if (!shape.isDirectory) return `${what} is not a directory`;
    if (shape.mode !== mode) return `${what} has mode ${octal(shape.mode)}, not ${octal(mode)}`;
    if (shape.uid !== owner.uid || shape.gid !== owner.gid) return `${what} is owned by ${shape.uid}:${shape.gid}, not ${owner.uid}:${owner.gid}`;
    const other = shape.entries.find((entry) => !allowed.includes(entry));
    if (other !== undefined) return `${what} holds ${JSON.stringify(other)}`;
    return undefined;
  };
  const problem =
    shapeProblem('the snapshot directory', wrapper, SNAPSHOT_DIR_MODE, ['fs', 'work']) ??
    (wrapper.entries.includes('work') && work === undefined ? 'work/ could not be read' : undefined) ??
    (work === undefined ? undefined : shapeProblem('work/', work, WORK_DIR_MODE, ['work']));
  if (problem !== undefined) return { reuse: false, reason: problem };
  return { reuse: true, hasFs: wrapper.entries.includes('fs'), hasWork: work !== undefined };
}

/**
 * Where a live overlay uses the removed snapshot directory `dir` (its fs/ as
 * upperdir or its work/ as workdir), from overlayDirectoriesInUse of the mount
 * table; undefined when none does.
 */
export function mountedAt(dir: string, inUse: ReadonlyMap<string, string>): string | undefined {
  return inUse.get(`${dir}/work`) ?? inUse.get(`${dir}/fs`);
}

/**
 * Whether the mount table's text can name the removed snapshot directory
 * `dir` at all: its last component (a snapshot id, digits, which mountinfo
 * shows unescaped) followed by /work or /fs. Most often it does not, and
 * the table need not be parsed (reading and parsing this VM's 55 lines took
 * ~80 µs, on a node with thousands of mounts far more); when it does,
 * mountedAt on the parsed table decides. Pure.
 */
export function mayBeMounted(dir: string, mountTable: string): boolean {
  const name = `/${dir.slice(dir.lastIndexOf('/') + 1)}/`;
  return mountTable.includes(`${name}work`) || mountTable.includes(`${name}fs`);
}

/** This process's ids, read once. */
const OWNER = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };

function shapeSync(dir: string): DirectoryShape {
  const stats = fs.lstatSync(dir);
  const isDirectory = stats.isDirectory();
  return { isDirectory, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, entries: isDirectory ? fs.readdirSync(dir) : [] };
}

/**
 * Renames the removed snapshot's directory `from` to `to` (a fresh spare's
 * path, which must not exist) and its fs/ back to `from`, when reuseDecision
 * allows; then `to` holds work/ (if hasWork) and no fs/. Undefined, and
 * nothing changed, when it does not (or `from` is gone). Synchronous: for the
 * filesystem worker thread. A failure after the first rename throws, leaving
 * `to` to the caller to delete (it holds the old fs/, a removed snapshot's).
 */
export function reuseRemovedDirectorySync(from: string, to: string): { hasWork: boolean } | undefined {
  let decision: ReuseDecision;
  try {
    const wrapper = shapeSync(from);
    const work = wrapper.isDirectory && wrapper.entries.includes('work') ? shapeSync(`${from}/work`) : undefined;
    decision = reuseDecision(wrapper, work, OWNER);
  } catch {
    return undefined;
  }
  if (!decision.reuse) return undefined;
  try {
    fs.renameSync(from, to);
  } catch {
    return undefined;
  }
  if (decision.hasFs) fs.renameSync(`${to}/fs`, from);
  return { hasWork: decision.hasWork };
}
