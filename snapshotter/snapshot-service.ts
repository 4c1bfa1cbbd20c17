/**
 * The snapshotter's semantics, as containerd's overlayfs snapshotter and its
 * storage package define them. Directories are created under a temporary name
 * and renamed to snapshots/<id> inside the metadata transaction, so a crash
 * never leaves metadata without its directory; removal records first and
 * deletes directories after, and Cleanup collects whatever a crash left.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  classifyFilesystemError,
} from '../common/errors';
import type { Logger } from '../common/logger';
import { buildSnapshotMounts, type HostOverlayFeatures, type MountSpec } from '../common/overlay-mounts';
import type { Clock } from './clock';
import { measureDiskUsage } from './disk-usage';
import { fsyncDirectory, makeDirectory } from './durable-fs';
import { matchFilters, parseFilters, type FieldAdaptor } from './filters';
import { applyLabelUpdate, storedLabels, validateLabels } from './labels';
import { TEMP_SNAPSHOT_PREFIX, type SnapshotLayout } from './layout';
import type { MetadataStore, ReadTransaction } from './metadata-store';
import { infoOf, type DiskUsage, type Labels, type SnapshotInfo, type SnapshotRecord } from './snapshot-model';

/** Snapshots per List response message. */
export const LIST_BATCH_SIZE = 100;

const FS_DIR_MODE = 0o755;
const WORK_DIR_MODE = 0o711;

export interface SnapshotServiceOptions {
  store: MetadataStore;
  layout: SnapshotLayout;
  features: HostOverlayFeatures;
  clock: Clock;
  logger: Logger;
}

export class SnapshotService {
  private readonly store: MetadataStore;
  private readonly layout: SnapshotLayout;
  private readonly features: HostOverlayFeatures;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Temporary directories of creations in flight: Cleanup must leave them alone. */
  private readonly creating = new Set<string>();

  constructor(options: SnapshotServiceOptions) {
    this.store = options.store;
    this.layout = options.layout;
    this.features = options.features;
    this.clock = options.clock;
    this.logger = options.logger;
  }

  prepare(key: string, parent: string, labels: Labels): MountSpec[] {
    return this.createSnapshot('active', key, parent, labels);
  }

  view(key: string, parent: string, labels: Labels): MountSpec[] {
    return this.createSnapshot('view', key, parent, labels);
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
    requireName(name, 'name');
    validateLabels(labels);
    const active = this.store.read((tx) => getExisting(tx, key));
    if (active.kind !== 'active') {
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is not active (it is ${active.kind}); only active snapshots can be committed`);
    }
    // Measured before the transaction: containerd stops writing to the upper before Commit.
    const usage = await this.measure(active.id);
    this.store.write((tx) => {
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
        usage,
      });
    });
  }

  async remove(key: string): Promise<void> {
    const id = this.store.write((tx) => {
      const record = getExisting(tx, key);
      if (tx.hasChildren(record.id)) {
        throw new FailedPreconditionError(`cannot remove snapshot with child: ${JSON.stringify(key)} is a parent; remove its children first`);
      }
      tx.remove(record.id);
      return record.id;
    });
    // The record is gone durably; a failure here leaves a directory for Cleanup.
    try {
      await fs.promises.rm(this.layout.snapshotDir(id), { recursive: true, force: true });
    } catch (error) {
      this.logger.warn('snapshot directory left for Cleanup', { id, error: String(error) });
    }
  }

  stat(key: string): SnapshotInfo {
    return this.store.read((tx) => infoOf(getExisting(tx, key)));
  }

  update(info: SnapshotInfo, fieldpaths: readonly string[]): SnapshotInfo {
    validateLabels(info.labels);
    return this.store.write((tx) => {
      const record = getExisting(tx, info.name);
      // Every pair comes from the stored labels or the request, both validated already.
      const labels = applyLabelUpdate(record.labels, info.labels, fieldpaths, info.name);
      const now = this.clock();
      tx.updateLabels(record.id, labels, now);
      return infoOf({ ...record, labels, updatedAt: now });
    });
  }

  /** Snapshots matching any of the filters, in batches for the List stream. */
  list(filters: readonly string[]): SnapshotInfo[][] {
    const parsed = parseFilters(filters);
    const matching = this.store
      .read((tx) => tx.all())
      .map(infoOf)
      .filter((info) => matchFilters(parsed, fieldAdaptor(info)));
    const batches: SnapshotInfo[][] = [];
    for (let i = 0; i < matching.length; i += LIST_BATCH_SIZE) {
      batches.push(matching.slice(i, i + LIST_BATCH_SIZE));
    }
    return batches;
  }

  async usage(key: string): Promise<DiskUsage> {
    const record = this.store.read((tx) => getExisting(tx, key));
    if (record.kind !== 'active') return { size: record.size, inodes: record.inodes };
    return this.measure(record.id);
  }

  /** Removes directories under snapshots/ that no metadata names. */
  async cleanup(): Promise<string[]> {
    // List first, then read the ids: a snapshot created while readdir runs is either
    // not listed or already named by the metadata read after it, never removed.
    const names = await fs.promises.readdir(this.layout.snapshotsDir);
    const ids = this.store.read((tx) => tx.allIds());
    const orphans = names.filter((name) => !this.creating.has(name) && !ids.has(Number(name)));
    for (const name of orphans) {
      await fs.promises.rm(path.join(this.layout.snapshotsDir, name), { recursive: true, force: true });
    }
    if (orphans.length > 0) this.logger.info('cleanup removed orphaned snapshot directories', { directories: orphans });
    return orphans;
  }

  private createSnapshot(kind: 'active' | 'view', key: string, parent: string, labels: Labels): MountSpec[] {
    requireName(key, 'key');
    validateLabels(labels);
    const temp = this.makeTempDirectory(kind);
    let renamedTo: string | undefined;
    try {
      return this.store.write((tx) => {
        if (tx.get(key) !== undefined) throw new AlreadyExistsError(`snapshot ${JSON.stringify(key)}: already exists`);
        const parentRecord = parent === '' ? undefined : getCommittedParent(tx, parent);
        const id = tx.insert({ name: key, parentId: parentRecord?.id ?? null, kind, now: this.clock(), labels: storedLabels(labels) });
        if (parentRecord !== undefined) copyOwner(this.layout.fsDir(parentRecord.id), path.join(temp.dir, 'fs'));
        const final = this.layout.snapshotDir(id);
        // The id is new in this transaction, so no record names this directory: if it exists it was
        // left by a crash (or a failed COMMIT) after an earlier rename whose transaction never landed.
        fs.rmSync(final, { recursive: true, force: true });
        fs.renameSync(temp.dir, final);
        renamedTo = final;
        fsyncDirectory(this.layout.snapshotsDir);
        return this.mountsOf(tx, getExisting(tx, key));
      });
    } catch (error) {
      // The transaction rolled back (or never began): no record names what was made.
      fs.rmSync(temp.dir, { recursive: true, force: true });
      if (renamedTo !== undefined) fs.rmSync(renamedTo, { recursive: true, force: true });
      throw classifyFilesystemError(error, `creating snapshot ${JSON.stringify(key)}`);
    } finally {
      this.creating.delete(temp.name);
    }
  }

  private makeTempDirectory(kind: 'active' | 'view'): { dir: string; name: string } {
    const name = `${TEMP_SNAPSHOT_PREFIX}${crypto.randomBytes(8).toString('hex')}`;
    const dir = path.join(this.layout.snapshotsDir, name);
    this.creating.add(name);
    try {
      makeDirectory(dir, 0o700);
      makeDirectory(path.join(dir, 'fs'), FS_DIR_MODE);
      if (kind === 'active') makeDirectory(path.join(dir, 'work'), WORK_DIR_MODE);
      fsyncDirectory(dir);
    } catch (error) {
      this.creating.delete(name);
      fs.rmSync(dir, { recursive: true, force: true });
      throw classifyFilesystemError(error, 'creating a snapshot directory');
    }
    return { dir, name };
  }

  private mountsOf(tx: ReadTransaction, record: SnapshotRecord): MountSpec[] {
    return buildSnapshotMounts({
      kind: record.kind === 'view' ? 'view' : 'active',
      fsDir: this.layout.fsDir(record.id),
      workDir: this.layout.workDir(record.id),
      parentFsDirs: tx.parentIds(record.id).map((id) => this.layout.fsDir(id)),
      features: this.features,
    });
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

  private async measure(id: number): Promise<DiskUsage> {
    try {
      return await measureDiskUsage(this.layout.fsDir(id));
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

/** A child's fs starts owned like its parent's, as containerd's overlayfs snapshotter does. */
function copyOwner(from: string, to: string): void {
  const stat = fs.statSync(from);
  fs.lchownSync(to, stat.uid, stat.gid);
}

/** containerd's snapshot field adaptor: kind, name, parent, labels.<key>. */
function fieldAdaptor(info: SnapshotInfo): FieldAdaptor {
  return (fieldpath) => {
    switch (fieldpath[0]) {
      case 'kind':
        return info.kind;
      case 'name':
        return info.name;
      case 'parent':
        return info.parent;
      case 'labels': {
        const key = fieldpath.slice(1).join('.');
        return Object.prototype.hasOwnProperty.call(info.labels, key) ? info.labels[key] : undefined;
      }
      default:
        return undefined;
    }
  };
}
