/**
 * What the helper does with its journal at start, decided from the journal,
 * the kernel's mount table and whether each owner still exists. Pure.
 *
 * - mounted, owner alive      → adopt (a 'mounting' row whose mount exists is adopted too)
 * - mounted, owner gone       → release (unmount, then forget)
 * - not mounted               → drop (forget; also unmount what is left in its private directory)
 *
 * An owner is alive while any sign of life it gave holds (ownerAlive).
 */
import type { MountInfoEntry } from '../../common/mountinfo';
import { isPathWithin } from '../../common/path-within';
import type { JournalEntry, OwnerLiveness } from './mount-journal';

export type ReconcileAction =
  | { kind: 'adopt'; entry: JournalEntry }
  | { kind: 'release'; entry: JournalEntry; targets: string[] }
  | { kind: 'drop'; entry: JournalEntry; targets: string[] };

/** What ownerAlive asks of the host: the filesystem and /proc. */
export interface LivenessFacts {
  pathExists(path: string): boolean;
  /** The process's start time (host/process-identity.ts), undefined when it is not running. */
  processStartTime(pid: number): string | undefined;
}

/**
 * Whether a mount's owner still exists: while its alive path exists or its
 * process — the same one, by start time, not a later one with its pid — runs;
 * an owner that gave neither sign always. tsov-runtime gives both: its own
 * process covers a create until the real runtime has made the container's
 * state directory (the path), so a helper restarted in between keeps the
 * mount the container is about to get.
 */
export function ownerAlive(liveness: OwnerLiveness, facts: LivenessFacts): boolean {
  const { alivePath, pid, pidStartTime } = liveness;
  if (alivePath === undefined && pid === undefined) return true;
  if (alivePath !== undefined && facts.pathExists(alivePath)) return true;
  return pid !== undefined && pidStartTime !== undefined && facts.processStartTime(pid) === pidStartTime;
}

/** The source name the helper gives its kernel mounts, so that mountinfo says whose they are. */
export function mountSourceTag(id: number): string {
  return `tsov-m${id}`;
}

export function memorySourceTag(id: number): string {
  return `tsov-m${id}-memory`;
}

/** Whether the kernel shows this journal entry's mount at its target. */
export function isEntryMounted(entry: JournalEntry, mounts: readonly MountInfoEntry[]): boolean {
  return mounts.some((m) => {
    if (m.mountPoint !== entry.target) return false;
    if (entry.backend === 'fuse') return m.fsType === 'fuse.fuse-overlayfs';
    return m.fsType === 'overlay' && m.source === mountSourceTag(entry.id);
  });
}

/**
 * Mount points inside the entry's private directory (memory tmpfs, fuse
 * staging binds), deepest first: what to unmount before the directory may be
 * removed. Paths there are the helper's own (its state dir is root's alone).
 */
export function privateMountPoints(entry: Pick<JournalEntry, 'privateDir'>, mounts: readonly MountInfoEntry[]): string[] {
  const dir = entry.privateDir;
  if (dir === undefined) return [];
  const points = mounts.filter((m) => isPathWithin(m.mountPoint, dir)).map((m) => m.mountPoint);
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Targets to unmount for an entry, outermost (the overlay) first. */
function targetsOf(entry: JournalEntry, mounts: readonly MountInfoEntry[], includeOverlay: boolean): string[] {
  return [...(includeOverlay ? [entry.target] : []), ...privateMountPoints(entry, mounts)];
}

export function planReconciliation(
  entries: readonly JournalEntry[],
  mounts: readonly MountInfoEntry[],
  ownerAlive: (entry: JournalEntry) => boolean,
): ReconcileAction[] {
  return entries.map((entry): ReconcileAction => {
    if (!isEntryMounted(entry, mounts)) return { kind: 'drop', entry, targets: targetsOf(entry, mounts, false) };
    if (!ownerAlive(entry)) return { kind: 'release', entry, targets: targetsOf(entry, mounts, true) };
    return { kind: 'adopt', entry };
  });
}
