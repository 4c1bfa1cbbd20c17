/**
 * What Stat, List and Mounts reuse between calls, and when each is dropped,
 * in one place. Everything here is derived from records the store holds; the
 * service tells the caches what changed (committed, removed) inside the same
 * transaction that changed it.
 */
import { getOrCompute } from '../common/memoize';
import type { MountSpec } from '../common/overlay-mounts';
import { infoOf, type SnapshotInfo, type SnapshotRecord } from './snapshot-model';
import type { SnapshotDirectoryRequest } from './durable-fs';

export class SnapshotReadCaches {
  /**
   * The parent chain of committed snapshots, nearest first, starting with the
   * snapshot itself. A committed snapshot's chain never changes, and it can
   * only be removed after all its descendants, so an entry is dropped on its
   * own removal only.
   */
  private readonly chains = new Map<number, readonly number[]>();
  /** Info of each catalog record (the store replaces a record's object when it changes). */
  private readonly infos = new WeakMap<SnapshotRecord, SnapshotInfo>();
  /**
   * The mounts of each active snapshot and view, by id: they depend only on
   * its id, kind and parent chain, which never change while it is active or a
   * view, and on its uid/gid mapping labels (remap-plan.ts). Callers get the
   * same array each time (the gRPC edge caches its encoding by identity).
   * Dropped at Commit, Remove and Update.
   */
  private readonly mounts = new Map<number, MountSpec[]>();
  /**
   * The owner a child's fs/ copies from each committed parent's fs/
   * (undefined: this process's own ids). A committed layer's root is owned as
   * its unpacking left it and nothing changes it after Commit, so it is
   * learnt from Commit's walk, or stat'ed once by Prepare (a snapshot committed
   * before a restart), not once per child: Prepares on the same parent while
   * its stat runs share it, and a stat that fails is not kept (the next asks
   * again). Dropped on its removal.
   */
  private readonly owners = new Map<number, Promise<SnapshotDirectoryRequest['owner']>>();

  chainOf(committedId: number, parentIds: () => readonly number[]): readonly number[] {
    return getOrCompute(this.chains, committedId, () => [committedId, ...parentIds()]);
  }

  infoOf(record: SnapshotRecord): SnapshotInfo {
    return getOrCompute(this.infos, record, () => infoOf(record));
  }

  mountsOf(id: number, build: () => MountSpec[]): MountSpec[] {
    return getOrCompute(this.mounts, id, build);
  }

  /** An active snapshot became committed: its mounts change (it has none as a committed snapshot). */
  committed(id: number): void {
    this.mounts.delete(id);
  }

  /** Update changed a snapshot's labels: its mounts may carry other uidmap=/gidmap= options. */
  labelsChanged(id: number): void {
    this.mounts.delete(id);
  }

  /** The owner of a committed snapshot's fs/, learnt at its Commit (the walk that measures it stats its root). */
  knowOwner(committedId: number, owner: SnapshotDirectoryRequest['owner']): void {
    this.owners.set(committedId, Promise.resolve(owner));
  }

  ownerOf(committedId: number, stat: () => Promise<SnapshotDirectoryRequest['owner']>): Promise<SnapshotDirectoryRequest['owner']> {
    const known = this.owners.get(committedId);
    if (known !== undefined) return known;
    const asked = stat();
    this.owners.set(committedId, asked);
    asked.catch(() => {
      if (this.owners.get(committedId) === asked) this.owners.delete(committedId);
    });
    return asked;
  }

  removed(id: number): void {
    this.chains.delete(id);
    this.mounts.delete(id);
    this.owners.delete(id);
  }
}
