/**
 * Gathers what check-placement.ts needs to know about each requested path by
 * opening it once (opened-directory.ts) and asking about the opened directory:
 * where it really is, the mount it was reached through and the filesystem
 * holding it, and (for work) what it contains. The caller keeps the opened
 * directories and mounts exactly those; it closes them when done.
 */
import fs from 'node:fs/promises';
import { filesystemName } from '../../common/filesystem-types';
import type { MountInfoEntry } from '../../common/mountinfo';
import type { PathFacts } from '../request/check-placement';
import { closeDirectories, openDirectory, type OpenedDirectory } from './opened-directory';

export interface RequestedPath {
  field: string;
  path: string;
  /** Read the directory's entries (work must be empty). */
  listEntries?: boolean;
}

const UNRESOLVABLE: Record<string, string> = {
  ENAMETOOLONG: 'a name or the whole path is too long',
  ELOOP: 'too many symbolic links',
  EACCES: 'a directory on the way cannot be searched',
};

export interface GatheredPath {
  facts: PathFacts;
  /** Open while the caller holds it; undefined when the path is not an existing directory. */
  opened?: OpenedDirectory;
}

export async function gatherPathFacts(requested: RequestedPath, mounts: readonly MountInfoEntry[]): Promise<GatheredPath> {
  const facts: PathFacts = { field: requested.field, requested: requested.path, isDirectory: false };
  const outcome = openDirectory(requested.path);
  if (outcome.kind === 'missing') return { facts };
  if (outcome.kind === 'unresolvable') {
    facts.unresolvable = `${outcome.code}: ${UNRESOLVABLE[outcome.code] ?? 'cannot be opened'}`;
    return { facts };
  }
  if (outcome.kind === 'not-directory') {
    facts.resolved = requested.path;
    return { facts };
  }
  const opened = outcome.directory;
  facts.resolved = opened.path;
  facts.isDirectory = true;
  const mount = mounts.find((m) => m.mountId === opened.mountId);
  if (mount !== undefined) {
    facts.mountId = mount.mountId;
    facts.mountPoint = mount.mountPoint;
    facts.readOnlyMount = mount.mountOptions.includes('ro');
  }
  facts.filesystem = filesystemName((await fs.statfs(opened.handle)).type);
  if (requested.listEntries === true) facts.entries = await fs.readdir(opened.handle);
  return { facts, opened };
}

/** All of them, or none: when one fails, the directories opened so far are closed. */
export async function gatherAllPathFacts(paths: readonly RequestedPath[], mounts: readonly MountInfoEntry[]): Promise<GatheredPath[]> {
  const gathered: GatheredPath[] = [];
  try {
    for (const requested of paths) gathered.push(await gatherPathFacts(requested, mounts));
  } catch (error) {
    closeDirectories(gathered.map((g) => g.opened));
    throw error;
  }
  return gathered;
}
