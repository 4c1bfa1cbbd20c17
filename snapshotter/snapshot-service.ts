/**
 * The snapshotter's semantics, as containerd's overlayfs snapshotter and its
 * storage package define them. A new snapshot's directory snapshots/<id> is
 * made under a reserved id before the metadata transaction that names it;
 * the fsync of its entry in snapshots/ and the transaction's run concurrently
 * and the reply waits for both, so an acknowledged snapshot is durable with
 * its directory. Prepare usually takes a spare instead: a directory made and
 * synced ahead under an id of its own (spare-directories.ts), so only the
 * transaction is left to wait for.
 * A crash between the two can leave either a directory no record names
 * (Cleanup removes it) or, after a power loss, the record of an unacknowledged
 * creation without its directory (start() rolls it back). Removal records
 * first and deletes directories after, once the snapshotter is quiet
 * (deferred-removals.ts). Commit walks the upper beside its transaction and
 * records the usage after it, without an fsync of its own
 * (MetadataStore.recordUsage). No filesystem call blocks the event
 * loop: directories are made, synced, measured and removed on the worker
 * thread (fs-worker.ts) or libuv's thread pool, and metadata commits share
 * fsyncs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  classifyFilesystemError,
} from '../common/errors';
import type { Logger } from '../common/logger';
import { buildSnapshotMounts, type HostOverlayFeatures, type MountSpec } from '../common/overlay-mounts';
import type { Clock } from './clock';
import { THREAD_POOL_CALLS, makeSnapshotDirectory, ownerToCopy, type SnapshotDirectoryRequest } from './durable-fs';
import { FsWorker } from './fs-worker';
import { UsageCache } from './usage-cache';
import { IdmapSupport } from './idmap-support';
import { idmapMountOptions, planRemap, type RemapPlan } from './remap-plan';
import { matchFilters, parseFilters, snapshotFieldAdaptor } from './filters';
import { planCleanup, planStartup } from './recovery-plan';
import { GroupSync, oldestSyncMs } from '../common/group-sync';
import { SNAPSHOTTER_WRITES, diskStallReport, stalledReason } from '../common/disk-stall';
import { SnapshotReadCaches } from './read-caches';
import { SpareDirectories } from './spare-directories';
import { DeferredRemovals, type RemovalFailure } from './deferred-removals';
import { applyLabelUpdate, storedLabels, validateLabels } from './labels';
import type { SnapshotLayout } from './layout';
import { NotDurableError } from '../common/sqlite-database';
import type { MetadataStore, ReadTransaction } from './metadata-store';
import { infoOf, recordedUsage, type DiskUsage, type Labels, type SnapshotInfo, type SnapshotRecord } from './snapshot-model';
import { measureSmallTreeSync, type MeasuredTree } from './disk-usage';

/** Snapshots per List response message. */
export const LIST_BATCH_SIZE = 100;

/** An upper with at most this many entries is measured on the event loop at Commit (see measureUpper). */
export const SMALL_UPPER_ENTRIES = 32;

/** Spare directories kept ready for Prepare (each is an empty snapshots/<id>/{fs,work}). */
export const SPARE_DIRECTORIES = 16;
/** What the spare pool grows to when concurrent Prepares empty it (spare-directories.ts). */
export const MAX_SPARE_DIRECTORIES = 256;

export interface SnapshotServiceOptions {
  store: MetadataStore;
  layout: SnapshotLayout;
  features: HostOverlayFeatures;
  clock: Clock;
  logger: Logger;
  /** Whether idmapped layers can be served (containerd's uid/gid mapping labels); none: never. */
  idmap?: IdmapSupport;
  /** A sync of snapshots/ running longer is a stalled disk (disk-stall.ts); none: not watched. */
  diskStallMs?: number;
}

export class SnapshotService {
  private readonly store: MetadataStore;
  private readonly layout: SnapshotLayout;
  private readonly features: HostOverlayFeatures;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly idmap: IdmapSupport;
  private readonly diskStallMs: number | undefined;
  /** Directories (by name) of creations in flight, not yet named by metadata: Cleanup must leave them alone. */
  private readonly creating = new Set<string>();
  /** Directories (by name) of removed snapshots, deleted when the snapshotter is quiet. */
  private readonly removals: DeferredRemovals;
  /** One fsync of snapshots/ makes the entries of every directory made before it durable. */
  private readonly snapshotsDirSync: GroupSync;
  /** snapshots/, open from start() to close(): its fsyncs need no open and close each. */
  private snapshotsDirHandle: fs.FileHandle | undefined;
  private readonly caches = new SnapshotReadCaches();
  private readonly spares: SpareDirectories;
  /** Spares made from removed snapshots' directories since start (the snapshotter's metric). */
  private reusedDirectories = 0;
  /** Making snapshot directories, off the event loop; the thread goes 5 s after its last job (longer for work that comes back: fs-worker.ts, nextIdleMs). */
  private readonly fsWorker = new FsWorker(5_000);
  /**
   * Deleting them, on a thread of its own: an rmdir here waits ~0.2 ms in the
   * kernel and uses little CPU, so deletions beside the spares being made
   * delete about twice as many a second as on one thread (deferred-removals.ts).
   */
  private readonly remover = new FsWorker(5_000);
  /**
   * Measuring them (Usage, Commit) on a thread of its own: a walk never delays a removal or Cleanup.
   * It stays 30 s after its last walk: CRI asks for every container's usage every 10 s.
   */
  private readonly measurer = new FsWorker();
  /** Usage of active snapshots, kept until inotify reports a change (usage-cache.ts). */
  private readonly usageCache = new UsageCache({ measure: (dir, directoryLimit) => this.measurer.usage(dir, directoryLimit) });

  constructor(options: SnapshotServiceOptions) {
    this.store = options.store;
    this.layout = options.layout;
    this.features = options.features;
    this.clock = options.clock;
    this.logger = options.logger;
    this.idmap = options.idmap ?? IdmapSupport.off(options.logger);
    this.diskStallMs = options.diskStallMs;
    this.snapshotsDirSync = new GroupSync(
      async () => {
        if (this.snapshotsDirHandle === undefined) throw new Error('the snapshot service is not started');
        await this.snapshotsDirHandle.sync();
      },
      options.diskStallMs === undefined ? undefined : diskStallReport(this.logger, SNAPSHOTTER_WRITES, `new snapshot directories (fsync of ${this.layout.snapshotsDir})`, options.diskStallMs),
    );
    this.removals = new DeferredRemovals({
      remove: (names) => this.removeSnapshotDirectories(names),
      logger: this.logger,
    });
    const spareDirs = (ids: readonly number[]) => ids.map((id) => this.layout.snapshotDir(id));
    this.spares = new SpareDirectories({
      target: SPARE_DIRECTORIES,
      maxTarget: MAX_SPARE_DIRECTORIES,
      reserve: () => this.store.reserveId(),
      // Each from a removed snapshot's wrapper and work/ where one waits for deletion (reused-directories.ts).
      make: async (ids) => {
        const lent = this.removals.lend(ids.length);
        try {
          const made = await this.fsWorker.makeSnapshotDirectories(spareDirs(ids), { kind: 'active' }, this.layout.snapshotsDir, lent.map((name) => this.layout.snapshotDir(name)));
          this.reusedDirectories += made.reused;
        } finally {
          // Whatever is left under each name (the old fs/, or all of it) is deleted as before: one a
          // live overlay still uses (never reused) is held then, and said so, by the removals.
          this.removals.giveBack(lent);
        }
      },
      // At start on the thread pool: a snapshotter that has served nothing yet runs no worker thread.
      makeAtStart: async (ids) => {
        await Promise.all(spareDirs(ids).map((dir) => makeSnapshotDirectory(THREAD_POOL_CALLS, { dir, kind: 'active' })));
        await this.snapshotsDirSync.wait();
      },
      discard: async (ids) => {
        await this.removeSnapshotDirectories(ids.map(String));
      },
      logger: this.logger,
    });
  }

  /**
   * Before serving: reserves ids above every directory under snapshots/, so a
   * directory a crash left behind (before its record landed) is never reused;
   * and rolls back the records of active snapshots and views whose directory
   * is missing. Creation replies only once directory and record are both
   * durable, so such a record is a creation a power loss interrupted before
   * it was acknowledged. A committed snapshot without its directory has lost
   * data that cannot be made up: it is reported, not touched.
   */
  async start(): Promise<string[]> {
    this.snapshotsDirHandle = await fs.open(this.layout.snapshotsDir, 'r');
    const plan = planStartup(await fs.readdir(this.layout.snapshotsDir), this.store.read((tx) => tx.all()));
    this.store.reserveIdsAbove(plan.reserveIdsAbove);
    const unacknowledged = plan.rollBack;
    for (const record of plan.lost) {
      this.logger.error('committed snapshot has no directory; its data is lost: remove it (ctr snapshots rm) and pull the image again', {
        snapshot: record.name,
        directory: this.layout.snapshotDir(record.id),
      });
    }
    if (unacknowledged.length > 0) {
      await this.store.write((tx) => unacknowledged.forEach((record) => tx.remove(record.id)));
      this.logger.warn('rolled back snapshots whose creation was interrupted before it was acknowledged (their directories did not survive)', {
        snapshots: unacknowledged.map((record) => record.name),
      });
    }
    // Spares lived in <root>/spare/ before 2026-12-03; a root from then may still hold some.
    await fs.rm(this.layout.legacySpareDir, { recursive: true, force: true });
    if (plan.leftOver.length > 0) {
      this.logger.info('directories named by no snapshot (removed ones the last stop left, or a crash\'s spares) are deleted in the background', { directories: plan.leftOver.length });
      this.removals.carryOver(plan.leftOver);
    }
    await this.spares.start();
    return unacknowledged.map((record) => record.name);
  }

  /**
   * After the server has stopped: deletes the spares, waits for a deletion in
   * flight and releases what start() opened. Removed snapshots' directories
   * still waiting stay for the next start (planStartup's leftOver): a restart
   * is not held up by them.
   */
  async close(): Promise<void> {
    // No deletion starts from here (the spares' close below can take longer than the quiet
    // time); a refill in flight gives back the removed directories it borrowed, which stay.
    await this.removals.stopped();
    await this.spares.close();
    this.removals.close();
    this.usageCache.close();
    await Promise.all([this.fsWorker.close(), this.remover.close(), this.measurer.close()]);
    await this.snapshotsDirHandle?.close();
    this.snapshotsDirHandle = undefined;
  }

  prepare(key: string, parent: string, labels: Labels): Promise<MountSpec[]> {
    return this.removals.during(() => this.createSnapshot('active', key, parent, labels));
  }

  view(key: string, parent: string, labels: Labels): Promise<MountSpec[]> {
    return this.removals.during(() => this.createSnapshot('view', key, parent, labels));
  }

  mounts(key: string): MountSpec[] {
    return this.store.read((tx) => {
      const record = getExisting(tx, key);
      if (record.kind === 'committed') {
        throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is committed and has no mounts; View or Prepare a child of it`);
      }
      return this.mountsOf(tx, record);
    });
  }

  async commit(name: string, key: string, labels: Labels, parent: string): Promise<void> {
    return this.removals.during(() => this.commitSnapshot(name, key, labels, parent));
  }

  private async commitSnapshot(name: string, key: string, labels: Labels, parent: string): Promise<void> {
    requireName(name, 'name');
    validateLabels(labels);
    const active = this.store.read((tx) => getExisting(tx, key));
    if (active.kind !== 'active') {
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is not active (it is ${active.kind}); only active snapshots can be committed`);
    }
    const written = this.store.write((tx) => {
      const current = getExisting(tx, key);
      if (current.id !== active.id || current.kind !== 'active') {
        throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} changed while it was being committed; retry`);
      }
      if (tx.get(name) !== undefined) throw new AlreadyExistsError(`committed snapshot ${JSON.stringify(name)}: already exists`);
      tx.commit({
        id: current.id,
        name,
        parentId: this.rebaseParent(tx, current, parent),
        now: this.clock(),
        labels: storedLabels(labels),
        usage: undefined,
      });
      this.caches.committed(current.id);
      this.usageCache.forget(current.id);
    });
    // containerd stops writing to the upper before Commit, so the walk that measures it
    // runs while the transaction's fsync does (a small upper's on the loop, now): the reply
    // waits for the longer of the two, not for both in turn.
    // Its error is held as a value: handled after the transaction, or dropped with a refused
    // Commit (never an unhandled rejection).
    const walk = this.measureUpper(active.id).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    await written;
    const measured = await walk;
    if (measured instanceof Error) {
      // As with containerd's overlayfs snapshotter, a Commit whose upper cannot be measured
      // fails and changes nothing: the record goes back to what it was, durably (unless a
      // child was made on it meanwhile: then it stays committed, and Usage measures it when
      // asked; or it was removed meanwhile: then it stays removed).
      await this.store.write((tx) => {
        if (tx.get(name)?.id !== active.id || tx.hasChildren(active.id)) return;
        tx.restore(active);
        this.caches.committed(active.id);
      });
      throw measured;
    }
    this.caches.knowOwner(active.id, ownerToCopy(measured.rootOwner));
    this.store.recordUsage(active.id, measured);
  }

  remove(key: string): Promise<void> {
    return this.removals.during(() => this.removeSnapshot(key));
  }

  private async removeSnapshot(key: string): Promise<void> {
    const id = await this.store.write((tx) => {
      const record = getExisting(tx, key);
      if (tx.hasChildren(record.id)) {
        throw new FailedPreconditionError(`cannot remove snapshot with child: ${JSON.stringify(key)} is a parent; remove its children first`);
      }
      tx.remove(record.id);
      this.caches.removed(record.id);
      this.usageCache.forget(record.id);
      return record.id;
    });
    // The record is gone durably: the reply need not wait for the directory,
    // as containerd's own overlayfs snapshotter defers it (asynchronous removal),
    // unless deletions are far behind (then it waits for its own: deferred-removals.ts).
    await this.removals.add(String(id));
  }

  /** Deletes the directories of removed snapshots now; resolves when they are gone (or left for Cleanup). */
  async settled(): Promise<void> {
    await this.removals.flush();
  }

  /** The same object for an unchanged snapshot (see infoOfRecord). */
  stat(key: string): SnapshotInfo {
    return this.infoOfRecord(this.store.read((tx) => getExisting(tx, key)));
  }

  update(info: SnapshotInfo, fieldpaths: readonly string[]): Promise<SnapshotInfo> {
    validateLabels(info.labels);
    return this.store.write((tx) => {
      const record = getExisting(tx, info.name);
      // Every pair comes from the stored labels or the request, both validated already.
      const labels = applyLabelUpdate(record.labels, info.labels, fieldpaths, info.name);
      const now = this.clock();
      tx.updateLabels(record.id, labels, now);
      this.caches.labelsChanged(record.id);
      return infoOf({ ...record, labels, updatedAt: now });
    });
  }

  /** Snapshots matching any of the filters, in batches for the List stream. */
  list(filters: readonly string[]): SnapshotInfo[][] {
    const parsed = parseFilters(filters);
    const matching = this.store
      .read((tx) => tx.all())
      .map((record) => this.infoOfRecord(record))
      .filter((info) => matchFilters(parsed, snapshotFieldAdaptor(info)));
    const batches: SnapshotInfo[][] = [];
    for (let i = 0; i < matching.length; i += LIST_BATCH_SIZE) {
      batches.push(matching.slice(i, i + LIST_BATCH_SIZE));
    }
    return batches;
  }

  async usage(key: string): Promise<DiskUsage> {
    const record = this.store.read((tx) => getExisting(tx, key));
    if (record.kind === 'active') return this.measured(record.id, () => this.usageCache.usage(record.id, this.layout.fsDir(record.id)));
    const recorded = recordedUsage(record);
    if (recorded !== undefined) return recorded;
    // Committed, and its measurement is not recorded: Commit's walk failed or has not
    // landed yet, or a crash lost it (it is written without waiting for an fsync).
    const { size, inodes } = await this.walk(record.id);
    this.store.recordUsage(record.id, { size, inodes });
    return { size, inodes };
  }

  private infoOfRecord(record: SnapshotRecord): SnapshotInfo {
    return this.caches.infoOf(record);
  }

  /** Removed snapshots whose directories are not deleted yet. */
  get directoriesAwaitingDeletion(): number {
    return this.removals.notYetDeleted;
  }

  /** Of those, the ones kept because a live overlay still used them when last tried. */
  get directoriesKeptMounted(): number {
    return this.removals.stillMountedCount;
  }

  /** Spare snapshot directories ready for Prepare now (the snapshotter's metric). */
  get sparesReady(): number {
    return this.spares.count;
  }

  /** How many spares the pool is kept at now: SPARE_DIRECTORIES, grown up to MAX_SPARE_DIRECTORIES by concurrent Prepares. */
  get sparesTarget(): number {
    return this.spares.target;
  }

  /** How long the oldest sync that write calls wait for has run, 0 when none runs (the snapshotter's metric). */
  get oldestSyncWaitMs(): number {
    return oldestSyncMs(this.syncsRunningSinceMs(), performance.now());
  }

  /** When each sync that write calls wait for started, if it runs: the metadata WAL's, snapshots/'s. */
  private syncsRunningSinceMs(): Array<number | undefined> {
    return [this.store.syncRunningSinceMs, this.snapshotsDirSync.runningSinceMs];
  }

  /** Why the snapshotter cannot do its work now: such a sync has run past the stall limit, the disk stalled (disk-stall.ts); undefined otherwise. */
  get diskStall(): string | undefined {
    return this.diskStallMs === undefined ? undefined : stalledReason(SNAPSHOTTER_WRITES, this.syncsRunningSinceMs(), this.diskStallMs);
  }

  /** Spare directories made from removed snapshots' wrapper and work/ since start (reused-directories.ts). */
  get directoriesReused(): number {
    return this.reusedDirectories;
  }

  /** The V8 heaps of the filesystem threads now running (making, deleting, measuring directories), in resident bytes. */
  get threadHeapBytes(): number {
    return this.fsWorker.heapBytes + this.remover.heapBytes + this.measurer.heapBytes;
  }

  /**
   * Starts deleting the directories of removed snapshots, and removes
   * directories under snapshots/ that no metadata names and no removal is
   * deleting, without waiting for those: containerd's collector ignores
   * deletions committed before its run returns, and calls Cleanup last (a slow
   * Cleanup let a pod's snapshot outlive RemovePodSandbox; README, CRI).
   */
  async cleanup(): Promise<string[]> {
    this.removals.flushSoon();
    // What the last process left undeleted is Cleanup's to finish, as any directory no record names.
    await this.removals.carriedOverGone();
    // List first, then read the ids: a snapshot created while readdir runs is either
    // not listed or already named by the metadata read after it, never removed.
    const names = await fs.readdir(this.layout.snapshotsDir);
    const orphans = planCleanup(
      names,
      this.store.read((tx) => tx.allIds()),
      (name) => this.creating.has(name) || this.removals.has(name) || this.spares.has(name),
    );
    const failures = await this.removeSnapshotDirectories(orphans);
    const left = new Set(failures.map((failure) => failure.name));
    const removed = orphans.filter((name) => !left.has(name));
    if (removed.length > 0) this.logger.info('cleanup removed orphaned snapshot directories', { directories: removed });
    if (failures.length > 0) {
      throw new InternalError(
        `Cleanup removed ${removed.length} orphaned snapshot director${removed.length === 1 ? 'y' : 'ies'} but could not remove ${failures.length}: ${failures.map((f) => f.message).join('; ')}; ` +
          'if something is mounted under one, unmount it, then call Cleanup again',
      );
    }
    return removed;
  }

  /** rm -r snapshots/<name> for each name, on the remover thread; resolves with those left behind. */
  private async removeSnapshotDirectories(names: readonly string[]): Promise<RemovalFailure[]> {
    const failures = await this.remover.remove(names.map((name) => path.join(this.layout.snapshotsDir, name)));
    return failures.map((failure) => ({ name: path.basename(failure.path), message: failure.message, mountPoint: failure.mountPoint, directory: failure.path }));
  }

  private async createSnapshot(kind: 'active' | 'view', key: string, parent: string, labels: Labels): Promise<MountSpec[]> {
    requireName(key, 'key');
    validateLabels(labels);
    const check = (tx: ReadTransaction) => {
      if (tx.get(key) !== undefined) throw new AlreadyExistsError(`snapshot ${JSON.stringify(key)}: already exists`);
      return parent === '' ? undefined : getCommittedParent(tx, parent);
    };
    // Refuse before touching the disk; checked again in the transaction, which is what counts.
    const parentRecord = this.store.read(check);
    const remap = planRemap({ labels, parent, grandparent: parentRecord?.parentName ?? '' });
    if (remap.kind === 'idmapped') await this.idmap.require(key);
    // Taken and marked as being created in one step: Cleanup never finds it between the two.
    const spare = kind === 'active' ? this.spares.take() : undefined;
    const id = spare ?? this.store.reserveId();
    const dir = this.layout.snapshotDir(id);
    this.creating.add(String(id));
    let recorded = false;
    try {
      // The mapped root owns the new layer's root (containerd's createSnapshot), else the parent's owner does.
      const owner = remap.kind !== 'none' ? remap.owner : parentRecord === undefined ? undefined : await this.caches.ownerOf(parentRecord.id, async () => ownerToCopy(await fs.stat(this.layout.fsDir(parentRecord.id))));
      // A spare is durable already, its entry in snapshots/ included (and fs/ with the owner it
      // takes here); a directory made here is too, but for that entry, which is synced below.
      if (spare !== undefined) {
        if (owner !== undefined) await this.giveOwner(id, owner);
      } else {
        await this.fsWorker.makeSnapshotDirectories([dir], { kind, owner });
      }
      // The directory exists (in the page cache): record it, and make both durable at once.
      const record = this.store.write((tx) => {
        const parentNow = check(tx);
        tx.insert({ id, name: key, parentId: parentNow?.id ?? null, kind, now: this.clock(), labels: storedLabels(labels) });
        recorded = true;
        return this.mountsOf(tx, getExisting(tx, key));
      });
      const [mounts] = await Promise.all([record, spare === undefined ? this.durablyNamed(dir) : undefined]);
      return mounts;
    } catch (error) {
      // Unless the record was committed (a failed fsync after it is NotDurableError), nothing
      // names the directory: remove it now rather than leave it to Cleanup.
      if (!(recorded && error instanceof NotDurableError)) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw classifyFilesystemError(error, `creating snapshot ${JSON.stringify(key)}`);
    } finally {
      this.creating.delete(String(id));
      // After the record's fsync: a batch beside it would delay it (spare-directories.ts).
      if (kind === 'active') this.spares.refillSoon();
    }
  }

  /** A spare's fs/ takes the owner its parent's has, durably (the owner is fs/'s inode's: see durable-fs.ts). */
  private async giveOwner(id: number, owner: NonNullable<SnapshotDirectoryRequest['owner']>): Promise<void> {
    const fsDir = this.layout.fsDir(id);
    await THREAD_POOL_CALLS.lchown(fsDir, owner.uid, owner.gid);
    await THREAD_POOL_CALLS.fsyncDirectory(fsDir);
  }

  /** Makes dir's entry in snapshots/ durable; a failure means it was made but may not survive a crash. */
  private async durablyNamed(dir: string): Promise<void> {
    try {
      await this.snapshotsDirSync.wait();
    } catch (error) {
      throw new NotDurableError(`the snapshot directory ${dir} was made but its fsync failed (${String(error)}); check the disk`, { cause: error });
    }
  }

  private mountsOf(tx: ReadTransaction, record: SnapshotRecord): MountSpec[] {
    return this.caches.mountsOf(record.id, () => this.buildMounts(tx, record));
  }

  private buildMounts(tx: ReadTransaction, record: SnapshotRecord): MountSpec[] {
    const parents = record.parentId === null ? [] : this.chainOf(tx, record.parentId);
    return buildSnapshotMounts({
      leadingOptions: idmapMountOptions(this.remapOf(tx, record)),
      kind: record.kind === 'view' ? 'view' : 'active',
      fsDir: this.layout.fsDir(record.id),
      workDir: this.layout.workDir(record.id),
      parentFsDirs: parents.map((id) => this.layout.fsDir(id)),
      features: this.features,
    });
  }

  /** What the snapshot's mapping labels ask for (remap-plan.ts), from its stored labels and parents. */
  private remapOf(tx: ReadTransaction, record: SnapshotRecord): RemapPlan {
    const grandparent = record.parentName === '' ? '' : (tx.get(record.parentName)?.parentName ?? '');
    return planRemap({ labels: record.labels, parent: record.parentName, grandparent });
  }

  /** The committed snapshot id and its ancestors, nearest first. */
  private chainOf(tx: ReadTransaction, committedId: number): readonly number[] {
    return this.caches.chainOf(committedId, () => tx.parentIds(committedId));
  }

  /** containerd >= 2.2 may name a parent at Commit; only a parentless snapshot may take one. */
  private rebaseParent(tx: ReadTransaction, active: SnapshotRecord, parent: string): number | null {
    if (parent === '' || parent === active.parentName) return active.parentId;
    if (active.parentId !== null) {
      throw new InvalidArgumentError(
        `snapshot ${JSON.stringify(active.name)} already has parent ${JSON.stringify(active.parentName)}; Commit can set a parent only on a parentless snapshot`,
      );
    }
    return getCommittedParent(tx, parent).id;
  }

  /**
   * Commit's walk of the upper: on the loop, at once, when it holds at most
   * SMALL_UPPER_ENTRIES entries (a few dozen system calls on inodes the
   * container just wrote, cheaper than the round trip to the measuring
   * thread), else on that thread.
   */
  private measureUpper(id: number): Promise<MeasuredTree> {
    const fsDir = this.layout.fsDir(id);
    return this.measured(id, async () => measureSmallTreeSync(fsDir, SMALL_UPPER_ENTRIES) ?? (await this.measurer.usage(fsDir)));
  }

  /** A fresh walk of a snapshot's fs/: its usage and its root's owner. */
  private walk(id: number): Promise<MeasuredTree> {
    return this.measured(id, () => this.measurer.usage(this.layout.fsDir(id)));
  }

  private async measured<T extends DiskUsage>(id: number, walk: () => Promise<T>): Promise<T> {
    try {
      return await walk();
    } catch (error) {
      throw classifyFilesystemError(error, `measuring the disk usage of snapshot ${id}`);
    }
  }
}

function requireName(name: string, what: string): void {
  if (name === '') throw new InvalidArgumentError(`snapshot ${what} must not be empty`);
}

function getExisting(tx: ReadTransaction, key: string): SnapshotRecord {
  const record = tx.get(key);
  if (record === undefined) throw new NotFoundError(`snapshot ${JSON.stringify(key)} does not exist`);
  return record;
}

function getCommittedParent(tx: ReadTransaction, parent: string): SnapshotRecord {
  const record = tx.get(parent);
  if (record === undefined) throw new NotFoundError(`parent snapshot ${JSON.stringify(parent)} does not exist`);
  if (record.kind !== 'committed') {
    throw new InvalidArgumentError(`parent ${JSON.stringify(parent)} is not committed snapshot (it is ${record.kind}); commit it first`);
  }
  return record;
}

