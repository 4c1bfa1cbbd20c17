/**
 * What the snapshotter does with its disk at start and at Cleanup, decided
 * from what is there (directory names under snapshots/, the metadata's
 * records). Pure, like the helper's journal reconciliation; the service
 * carries the plans out.
 */
import type { SnapshotRecord } from './snapshot-model';

export interface StartupPlan {
  /** New ids are reserved above every id ever used and every directory found. */
  reserveIdsAbove: number;
  /**
   * Records of active/view snapshots whose directory is missing: a creation a
   * power loss interrupted before its reply (replies wait for both the
   * directory and the record to be durable). Rolled back.
   */
  rollBack: SnapshotRecord[];
  /** Committed snapshots without their directory: lost data that cannot be made up; reported, not touched. */
  lost: SnapshotRecord[];
  /**
   * Directories no record names: removed snapshots whose directories the last
   * process left (a stop does not wait for them), a crash's spares. Deleted in
   * the background like a removed snapshot's (deferred-removals.ts).
   */
  leftOver: string[];
}

export function planStartup(directoryNames: readonly string[], records: readonly SnapshotRecord[]): StartupPlan {
  const names = new Set(directoryNames);
  const ids = directoryNames.map(Number).filter(Number.isSafeInteger);
  const missing = records.filter((record) => !names.has(String(record.id)));
  return {
    reserveIdsAbove: Math.max(0, ...ids),
    rollBack: missing.filter((record) => record.kind !== 'committed'),
    lost: missing.filter((record) => record.kind === 'committed'),
    // Nothing is in flight before the first call.
    leftOver: planCleanup(directoryNames, new Set(records.map((record) => record.id)), () => false),
  };
}

/**
 * Directories under snapshots/ that Cleanup removes: named by no record, and
 * not a creation or removal in flight. The names must be listed before the
 * ids are read: a snapshot created meanwhile is then either not listed or
 * already named.
 */
export function planCleanup(directoryNames: readonly string[], namedIds: ReadonlySet<number>, inFlight: (name: string) => boolean): string[] {
  return directoryNames.filter((name) => !inFlight(name) && !namedIds.has(Number(name)));
}
