/**
 * Gathers what check-placement.ts needs to know about each requested path:
 * where it resolves to (symlinks followed), whether it is a directory, the
 * mount and filesystem holding it, and (for work) what it contains.
 */
import fs from 'node:fs/promises';
import { errnoCode } from '../../../common/errors';
import { filesystemName } from '../../../common/filesystem-types';
import { mountHolding, type MountInfoEntry } from '../../../common/mountinfo';
import type { PathFacts } from '../request/check-placement';

export interface RequestedPath {
  field: string;
  path: string;
  /** Read the directory's entries (work must be empty). */
  listEntries?: boolean;
}

/** realpath(3) failures that say something about the request, not about the helper. */
const UNRESOLVABLE: Record<string, string> = {
  ENAMETOOLONG: 'a name or the whole path is too long',
  ELOOP: 'too many symbolic links',
  EACCES: 'a directory on the way cannot be searched',
};

export async function gatherPathFacts(requested: RequestedPath, mounts: readonly MountInfoEntry[]): Promise<PathFacts> {
  const fact: PathFacts = { field: requested.field, requested: requested.path, isDirectory: false };
  try {
    fact.resolved = await fs.realpath(requested.path);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return fact;
    const why = code === undefined ? undefined : UNRESOLVABLE[code];
    if (why === undefined) throw error;
    fact.unresolvable = `${code}: ${why}`;
    return fact;
  }
  const stat = await fs.stat(fact.resolved);
  fact.isDirectory = stat.isDirectory();
  if (!fact.isDirectory) return fact;
  const mount = mountHolding(mounts, fact.resolved);
  if (mount !== undefined) {
    fact.mountId = mount.mountId;
    fact.mountPoint = mount.mountPoint;
    fact.readOnlyMount = mount.mountOptions.includes('ro');
  }
  fact.filesystem = filesystemName((await fs.statfs(fact.resolved)).type);
  if (requested.listEntries === true) fact.entries = await fs.readdir(fact.resolved);
  return fact;
}

export function gatherAllPathFacts(paths: readonly RequestedPath[], mounts: readonly MountInfoEntry[]): Promise<PathFacts[]> {
  return Promise.all(paths.map((p) => gatherPathFacts(p, mounts)));
}
