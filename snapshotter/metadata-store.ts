/**
 * The one module that owns metadata.db. SQLite in WAL mode with
 * synchronous=NORMAL: a write transaction runs synchronously (no other call
 * can interleave with it) and is then made durable by an fdatasync of the
 * -wal file on libuv's thread pool, shared by every transaction committed in
 * the meantime (group commit). write() resolves only after that sync, so a
 * reply sent after it never acknowledges anything a crash could lose.
 * Everything else talks to the store through read(tx => ...) / write(tx => ...).
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type Database from 'better-sqlite3';
import { InternalError } from '../common/errors';
import { openDatabase } from '../common/sqlite-database';
import { GroupSync } from './group-sync';
import type { Microseconds } from './clock';
import type { DiskUsage, Labels, SnapshotKind, SnapshotRecord } from './snapshot-model';

/** Each entry migrates the schema from version index to index + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE snapshots (
     id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
     name       TEXT    NOT NULL UNIQUE,
     parent_id  INTEGER REFERENCES snapshots(id),
     kind       TEXT    NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
     created_us INTEGER NOT NULL,
     updated_us INTEGER NOT NULL,
     labels     TEXT    NOT NULL DEFAULT '{}',
     size       INTEGER NOT NULL DEFAULT 0,
     inodes     INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX snapshots_parent ON snapshots(parent_id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface Row {
  id: number;
  name: string;
  parent_id: number | null;
  parent_name: string | null;
  kind: SnapshotKind;
  created_us: number;
  updated_us: number;
  labels: string;
  size: number;
  inodes: number;
}

const SELECT_SNAPSHOT = `
  SELECT s.id, s.name, s.parent_id, p.name AS parent_name, s.kind, s.created_us, s.updated_us,
         s.labels, s.size, s.inodes
  FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`;

function recordOf(row: Row): SnapshotRecord {
  return {
    id: row.id,
    name: row.name,
    parentId: row.parent_id,
    parentName: row.parent_name ?? '',
    kind: row.kind,
    createdAt: row.created_us,
    updatedAt: row.updated_us,
    labels: JSON.parse(row.labels) as Labels,
    size: row.size,
    inodes: row.inodes,
  };
}

export interface NewSnapshot {
  /** From reserveId(): the directory snapshots/<id> exists before the record does. */
  id: number;
  name: string;
  parentId: number | null;
  kind: 'active' | 'view';
  now: Microseconds;
  labels: Labels;
}

export interface CommitChange {
  id: number;
  name: string;
  parentId: number | null;
  now: Microseconds;
  labels: Labels;
  usage: DiskUsage;
}

/** Reads; available in both kinds of transaction. */
export interface ReadTransaction {
  get(name: string): SnapshotRecord | undefined;
  /** Ids of the parent chain of a snapshot, nearest first. */
  parentIds(id: number): number[];
  hasChildren(id: number): boolean;
  all(): SnapshotRecord[];
  allIds(): Set<number>;
}

export interface WriteTransaction extends ReadTransaction {
  insert(snapshot: NewSnapshot): void;
  commit(change: CommitChange): void;
  updateLabels(id: number, labels: Labels, now: Microseconds): void;
  remove(id: number): void;
}

/** A change was committed but the fsync that makes it durable failed: it may or may not survive a crash. */
export class NotDurableError extends InternalError {}

const fdatasync = promisify(fs.fdatasync);

export class MetadataStore {
  private readonly db: Database.Database;
  private readonly tx: WriteTransaction;
  private readonly transaction: Database.Transaction<(fn: (tx: WriteTransaction) => unknown) => unknown>;
  /** The -wal file, held open for the life of the connection (SQLite keeps its inode until the last close). */
  private readonly walFd: number;
  private readonly walSync: GroupSync;
  private nextId: number;
  /**
   * Every record, by id, for List: read once, then refreshed only for the ids
   * written since (a List of thousands of snapshots costs no SQL and no JSON
   * parsing while nothing changes). Records in it are never mutated: a change
   * replaces the object, so callers may cache by identity.
   */
  private catalog: Map<number, SnapshotRecord> | undefined;
  private readonly changed = new Set<number>();
  private closed = false;

  constructor(file: string) {
    this.db = openDatabase(file, MIGRATIONS, 'tsov-snapshotter', 'NORMAL');
    try {
      this.tx = this.prepareStatements();
      this.transaction = this.db.transaction((fn: (tx: WriteTransaction) => unknown) => fn(this.tx));
      this.walFd = fs.openSync(`${file}-wal`, 'r');
      this.walSync = new GroupSync(() => fdatasync(this.walFd));
      // The -wal file may have just been created: make its directory entry durable once.
      fsyncDirectorySync(path.dirname(file));
      this.nextId = this.highestId() + 1;
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /**
   * A consistent read. There is one connection and every call on it is
   * synchronous, so no write can interleave with fn: no transaction is needed.
   */
  read<T>(fn: (tx: ReadTransaction) => T): T {
    return fn(this.tx);
  }

  /**
   * An atomic change, resolved once it is durable. If fn throws, nothing of it
   * is kept. NotDurableError means it was committed but its fsync failed.
   */
  async write<T>(fn: (tx: WriteTransaction) => T): Promise<T> {
    let result: T;
    try {
      result = this.transaction.immediate(fn) as T;
    } catch (error) {
      // Rolled back: the catalog may have been refreshed from rows that are gone now.
      this.catalog = undefined;
      throw error;
    }
    try {
      await this.walSync.wait();
    } catch (error) {
      throw new NotDurableError(`the metadata change was committed but its fsync failed (${String(error)}); check the disk holding ${this.db.name}`, { cause: error });
    }
    return result;
  }

  /** A fresh id, never used before and never handed out again by this process. */
  reserveId(): number {
    return this.nextId++;
  }

  /** Ids are reserved above n from now on (n: the highest directory name found under snapshots/). */
  reserveIdsAbove(n: number): void {
    this.nextId = Math.max(this.nextId, n + 1);
  }

  /** fdatasyncs of the -wal file so far: fewer than writes under concurrency (group commit). */
  get walSyncs(): number {
    return this.walSync.syncs;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.walFd);
    this.db.close();
  }

  /** The highest id ever given, including removed ones (AUTOINCREMENT keeps it in sqlite_sequence). */
  private highestId(): number {
    const row = this.db
      .prepare<[], { id: number | null }>(
        `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'snapshots'), 0),
                    COALESCE((SELECT MAX(id) FROM snapshots), 0)) AS id`,
      )
      .get();
    return row?.id ?? 0;
  }

  private prepareStatements(): WriteTransaction {
    const db = this.db;
    const byName = db.prepare<[string], Row>(`${SELECT_SNAPSHOT} WHERE s.name = ?`);
    const byId = db.prepare<[number], Row>(`${SELECT_SNAPSHOT} WHERE s.id = ?`);
    const all = db.prepare<[], Row>(`${SELECT_SNAPSHOT} ORDER BY s.id`);
    const ids = db.prepare<[], { id: number }>('SELECT id FROM snapshots');
    const parentChain = db.prepare<[number], { id: number }>(`
      WITH RECURSIVE chain(id, depth) AS (
        SELECT parent_id, 1 FROM snapshots WHERE id = ? AND parent_id IS NOT NULL
        UNION ALL
        SELECT s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.id WHERE s.parent_id IS NOT NULL
      ) SELECT id FROM chain ORDER BY depth`);
    const child = db.prepare<[number], { id: number }>('SELECT id FROM snapshots WHERE parent_id = ? LIMIT 1');
    const insert = db.prepare(
      `INSERT INTO snapshots (id, name, parent_id, kind, created_us, updated_us, labels)
       VALUES (@id, @name, @parentId, @kind, @now, @now, @labels)`,
    );
    const commit = db.prepare(
      `UPDATE snapshots SET name = @name, parent_id = @parentId, kind = 'committed', created_us = @now,
         updated_us = @now, labels = @labels, size = @size, inodes = @inodes WHERE id = @id`,
    );
    const updateLabels = db.prepare('UPDATE snapshots SET labels = @labels, updated_us = @now WHERE id = @id');
    const remove = db.prepare('DELETE FROM snapshots WHERE id = ?');

    return {
      get: (name) => {
        const row = byName.get(name);
        return row === undefined ? undefined : recordOf(row);
      },
      parentIds: (id) => parentChain.all(id).map((row) => row.id),
      hasChildren: (id) => child.get(id) !== undefined,
      all: () => {
        if (this.catalog === undefined) {
          this.catalog = new Map(all.all().map((row) => [row.id, recordOf(row)]));
          this.changed.clear();
        }
        let appended = false;
        for (const id of this.changed) {
          const row = byId.get(id);
          if (row === undefined) this.catalog.delete(id);
          else {
            appended ||= !this.catalog.has(id);
            this.catalog.set(id, recordOf(row));
          }
        }
        this.changed.clear();
        // Ids are reserved in order but may land out of order: keep List in id order.
        if (appended && !ascending(this.catalog.keys())) this.catalog = new Map([...this.catalog].sort(([a], [b]) => a - b));
        return [...this.catalog.values()];
      },
      allIds: () => new Set(ids.all().map((row) => row.id)),
      insert: (s) => {
        this.changed.add(s.id);
        insert.run({ id: s.id, name: s.name, parentId: s.parentId, kind: s.kind, now: s.now, labels: JSON.stringify(s.labels) });
      },
      commit: (c) => {
        this.changed.add(c.id);
        commit.run({
          id: c.id,
          name: c.name,
          parentId: c.parentId,
          now: c.now,
          labels: JSON.stringify(c.labels),
          size: c.usage.size,
          inodes: c.usage.inodes,
        });
      },
      updateLabels: (id, labels, now) => {
        this.changed.add(id);
        updateLabels.run({ id, labels: JSON.stringify(labels), now });
      },
      remove: (id) => {
        this.changed.add(id);
        remove.run(id);
      },
    };
  }
}

function fsyncDirectorySync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function ascending(ids: Iterable<number>): boolean {
  let previous = -Infinity;
  for (const id of ids) {
    if (id < previous) return false;
    previous = id;
  }
  return true;
}
