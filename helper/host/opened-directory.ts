/**
 * A directory the helper has opened once, with O_PATH: every check reads the
 * opened directory (its real path from /proc/self/fd, its mount from
 * /proc/self/fdinfo, its filesystem and entries through /proc/self/fd/N), and
 * the mount is given the descriptor itself (native/tsov-mount.c). A path
 * resolved again later could name something else: a symlink swapped in on the
 * way, or a target whose ':' or ',' the kernel would split on.
 *
 * Symlinks are followed once, by open(2). What counts is where the opened
 * directory is, which the kernel reports (d_path): a directory cannot be moved
 * out of the allowed roots into a place the mover could not already write.
 */
import fs from 'node:fs';
import { errnoCode } from '../../common/errors';

/** open(2)'s O_PATH on Linux (node's fs.constants leaves it out). */
const O_PATH = 0o10000000;

export interface OpenedDirectory {
  fd: number;
  /** The kernel's name for the opened directory now (readlink /proc/self/fd/N). */
  path: string;
  /** The id of the mount the directory was reached through (fdinfo mnt_id). */
  mountId: number;
  /** /proc/self/fd/N: reads through it reach the opened directory, not a path. */
  handle: string;
}

export type OpenOutcome =
  | { kind: 'opened'; directory: OpenedDirectory }
  | { kind: 'missing' }
  | { kind: 'not-directory' }
  | { kind: 'unresolvable'; code: string };

/** open(2) failures that say something about the request, not about the helper. */
const UNRESOLVABLE = new Set(['ENAMETOOLONG', 'ELOOP', 'EACCES']);

export function descriptorPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

function mountIdOf(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^mnt_id:\s*(\d+)$/m.exec(info);
  if (match === null) throw new Error(`/proc/self/fdinfo/${fd} has no mnt_id`);
  return Number(match[1]);
}

/** Opens an existing descriptor-reachable directory; the caller closes it (closeDirectories). */
export function openDirectory(requested: string): OpenOutcome {
  let fd: number;
  try {
    fd = fs.openSync(requested, O_PATH | fs.constants.O_DIRECTORY);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return { kind: 'missing' };
    if (code === 'ENOTDIR') return fs.existsSync(requested) ? { kind: 'not-directory' } : { kind: 'missing' };
    if (code !== undefined && UNRESOLVABLE.has(code)) return { kind: 'unresolvable', code };
    throw error;
  }
  try {
    const handle = descriptorPath(fd);
    return { kind: 'opened', directory: { fd, path: fs.readlinkSync(handle), mountId: mountIdOf(fd), handle } };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Makes dir (its parent must be the helper's own) and opens it, refusing
 * anything but the directory just made: the helper's own directories are
 * reached through descriptors like everything else.
 */
export function makeOwnDirectory(dir: string): OpenedDirectory {
  fs.mkdirSync(dir, { mode: 0o700 });
  const outcome = openDirectory(dir);
  if (outcome.kind !== 'opened' || outcome.directory.path !== dir) {
    if (outcome.kind === 'opened') closeDirectories([outcome.directory]);
    throw new Error(`${dir} changed while the helper made it`);
  }
  return outcome.directory;
}

export function closeDirectories(directories: Iterable<OpenedDirectory | undefined>): void {
  for (const directory of directories) {
    if (directory !== undefined) fs.closeSync(directory.fd);
  }
}

/**
 * A /proc/self/fd/N/... path names a file through this process's descriptor N.
 * A program run with that descriptor as its fd 3 (runCommand's descriptors)
 * reaches the same file as /proc/self/fd/3/...; other paths are unchanged.
 */
export function pathForChild(file: string): { path: string; descriptors: number[] } {
  const match = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(file);
  if (match === null) return { path: file, descriptors: [] };
  return { path: `/proc/self/fd/3${match[2] ?? ''}`, descriptors: [Number(match[1])] };
}
