/**
 * The snapshotter's domain types, shared by the store, the service and the
 * gRPC edge.
 */
import type { Microseconds } from './clock';

export type SnapshotKind = 'active' | 'view' | 'committed';

export type Labels = Record<string, string>;

/** A snapshot as the metadata store keeps it. */
export interface SnapshotRecord {
  /** Monotonic, never reused; names the directory snapshots/<id>. */
  id: number;
  name: string;
  parentId: number | null;
  /** Name of the parent, or '' for none. */
  parentName: string;
  kind: SnapshotKind;
  createdAt: Microseconds;
  updatedAt: Microseconds;
  labels: Labels;
  /** Bytes (st_blocks * 512) and inodes, recorded at Commit; NOT_MEASURED until then (see recordedUsage). */
  size: number;
  inodes: number;
}

/** size and inodes of a committed snapshot whose measurement is not recorded yet (or was lost in a crash). */
export const NOT_MEASURED = -1;

/** What a record holds of its usage: undefined when it is not measured yet. */
export function recordedUsage(record: Pick<SnapshotRecord, 'size' | 'inodes'>): DiskUsage | undefined {
  return record.size === NOT_MEASURED || record.inodes === NOT_MEASURED ? undefined : { size: record.size, inodes: record.inodes };
}

/** What Stat/List/Update return: containerd's snapshots.Info. */
export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  createdAt: Microseconds;
  updatedAt: Microseconds;
  labels: Labels;
}

export interface DiskUsage {
  size: number;
  inodes: number;
}

export function infoOf(record: SnapshotRecord): SnapshotInfo {
  return {
    name: record.name,
    parent: record.parentName,
    kind: record.kind,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    labels: record.labels,
  };
}
