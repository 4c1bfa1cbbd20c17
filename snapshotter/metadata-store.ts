/**
 * The one module that owns metadata.db. SQLite in WAL mode with
 * synchronous=FULL: a write transaction is on disk before write() returns, so a
 * reply sent after it never acknowledges anything a crash could lose.
 * Everything else talks to the store through read(tx => ...) / write(tx => ...).
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../common/sqlite-database';
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
  insert(snapshot: NewSnapshot): number;
  commit(change: CommitChange): void;
  updateLabels(id: number, labels: Labels, now: Microseconds): void;
  remove(id: number): void;
}

export class MetadataStore {
  private readonly db: Database.Database;
  private readonly tx: WriteTransaction;
  private closed = false;

  constructor(file: string) {
    this.db = openDatabase(file, MIGRATIONS, 'tsov-snapshotter');
    this.tx = this.prepareStatements();
  }

  /** A consistent read of the metadata. */
  read<T>(fn: (tx: ReadTransaction) => T): T {
    return this.db.transaction(() => fn(this.tx)).deferred();
  }

  /** An atomic, durable change: if fn throws, nothing of it is kept. */
  write<T>(fn: (tx: WriteTransaction) => T): T {
    return this.db.transaction(() => fn(this.tx)).immediate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private prepareStatements(): WriteTransaction {
    const db = this.db;
    const byName = db.prepare<[string], Row>(`${SELECT_SNAPSHOT} WHERE s.name = ?`);
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
      `INSERT INTO snapshots (name, parent_id, kind, created_us, updated_us, labels)
       VALUES (@name, @parentId, @kind, @now, @now, @labels)`,
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
      all: () => all.all().map(recordOf),
      allIds: () => new Set(ids.all().map((row) => row.id)),
      insert: (s) =>
        Number(insert.run({ name: s.name, parentId: s.parentId, kind: s.kind, now: s.now, labels: JSON.stringify(s.labels) }).lastInsertRowid),
      commit: (c) => {
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
        updateLabels.run({ id, labels: JSON.stringify(labels), now });
      },
      remove: (id) => {
        remove.run(id);
      },
    };
  }
}
