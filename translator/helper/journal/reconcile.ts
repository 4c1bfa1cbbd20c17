/**
 * What the helper does with its journal at start, decided from the journal,
 * the kernel's mount table and whether each owner still exists. Pure.
 *
 * - mounted, owner alive      → adopt (a 'mounting' row whose mount exists is adopted too)
 * - mounted, owner gone       → release (unmount, then forget)
 * - not mounted               → drop (forget; also unmount a leftover memory tmpfs)
 */
import type { MountInfoEntry } from '../../../common/mountinfo';
import type { JournalEntry } from './mount-journal';

export type ReconcileAction =
  | { kind: 'adopt'; entry: JournalEntry }
  | { kind: 'release'; entry: JournalEntry; targets: string[] }
  | { kind: 'drop'; entry: JournalEntry; targets: string[] };

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

function memoryMounted(entry: JournalEntry, mounts: readonly MountInfoEntry[]): boolean {
  return entry.memoryDir !== undefined && mounts.some((m) => m.mountPoint === entry.memoryDir && m.fsType === 'tmpfs' && m.source === memorySourceTag(entry.id));
}

/** Targets to unmount for an entry, outermost (the overlay) first. */
function targetsOf(entry: JournalEntry, mounts: readonly MountInfoEntry[], includeOverlay: boolean): string[] {
  const targets: string[] = [];
  if (includeOverlay) targets.push(entry.target);
  if (memoryMounted(entry, mounts)) targets.push(entry.memoryDir!);
  return targets;
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
