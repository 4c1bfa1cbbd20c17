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
  /** Bytes (st_blocks * 512) and inodes, recorded at Commit. */
  size: number;
  inodes: number;
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
