/**
 * The one module that owns metadata.db, opened exclusively by this process
 * (sqlite-database.ts). SQLite in WAL mode with synchronous=NORMAL: a write transaction runs synchronously (no other call
 * can interleave with it) and is then made durable by an fdatasync of the
 * -wal file on libuv's thread pool, shared by every transaction committed in
 * the meantime (group commit). write() resolves only after that sync, so a
 * reply sent after it never acknowledges anything a crash could lose.
 * Reads come from every record held in memory (record-catalog.ts), read once
 * at open; each change puts the record it wrote there (no SQL read), and a
 * write that rolls back puts back what the database holds.
 * Everything else talks to the store through read(tx => ...) / write(tx => ...).
 */
import type Database from 'better-sqlite3';
import { InternalError } from '../common/errors';
import { WalSync, openDatabase } from '../common/sqlite-database';
import type { StallReport } from '../common/group-sync';
import { RecordCatalog } from './record-catalog';
import type { Microseconds } from './clock';
import { NOT_MEASURED, type DiskUsage, type Labels, type SnapshotKind, type SnapshotRecord } from './snapshot-model';

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
  /** undefined: not measured yet (MetadataStore.recordUsage sets it later). */
  usage: DiskUsage | undefined;
}

/** Reads; available in both kinds of transaction. */
export interface ReadTransaction {
  get(name: string): SnapshotRecord | undefined;
  /** Ids of the parent chain of a snapshot, nearest first. */
  parentIds(id: number): number[];
  hasChildren(id: number): boolean;
  all(): readonly SnapshotRecord[];
  allIds(): Set<number>;
}

export interface WriteTransaction extends ReadTransaction {
  insert(snapshot: NewSnapshot): void;
  commit(change: CommitChange): void;
  updateLabels(id: number, labels: Labels, now: Microseconds): void;
  /** Puts back a record as it was (a Commit undone), every field of it. */
  restore(record: SnapshotRecord): void;
  remove(id: number): void;
}

/** The columns of a usage; -1 in both: not measured yet (snapshot-model.ts recordedUsage). */
function storedUsage(usage: DiskUsage | undefined): DiskUsage {
  return usage ?? { size: NOT_MEASURED, inodes: NOT_MEASURED };
}

export class MetadataStore {
  private readonly db: Database.Database;
  private readonly tx: WriteTransaction;
  private readonly transaction: Database.Transaction<(fn: (tx: WriteTransaction) => unknown) => unknown>;
  private readonly walSync: WalSync;
  private nextId: number;
  /** Every record in memory, read once at open: reads cost no SQL. */
  private readonly catalog: RecordCatalog;
  /** Ids written by the transaction running now: refreshed from the database if it rolls back. */
  private readonly touched = new Set<number>();
  private readonly byId: Database.Statement<[number], Row>;
  /** Usages recordUsage has put in the catalog and the database does not have yet (see there). */
  private readonly unwrittenUsage = new Map<number, DiskUsage>();
  private readonly writeUsage: Database.Statement<[{ id: number; size: number; inodes: number }]>;
  private closed = false;

  /** @param options.stall reports an fdatasync of the WAL that runs past its limit (group-sync.ts) */
  constructor(file: string, options: { stall?: StallReport } = {}) {
    this.db = openDatabase(file, MIGRATIONS, 'tsov-snapshotter', { synchronous: 'NORMAL', exclusive: true });
    try {
      this.byId = this.db.prepare<[number], Row>(`${SELECT_SNAPSHOT} WHERE s.id = ?`);
      // A row gone meanwhile (removed) is simply not updated.
      this.writeUsage = this.db.prepare('UPDATE snapshots SET size = @size, inodes = @inodes WHERE id = @id');
      this.catalog = new RecordCatalog(this.db.prepare<[], Row>(SELECT_SNAPSHOT).all().map(recordOf));
      this.tx = this.prepareStatements();
      this.transaction = this.db.transaction((fn: (tx: WriteTransaction) => unknown) => fn(this.tx));
      this.walSync = new WalSync(file, 'the metadata change', options.stall);
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
    const result = this.transact(fn);
    await this.walSync.wait();
    return result;
  }

  /**
   * A committed snapshot's measured usage (its updated time is not touched:
   * nothing the client set changed); nothing if id is not a committed
   * snapshot (any more). Reads see it at once; the database gets it with the
   * next write's transaction, whose fsync makes it durable (or at close): no
   * transaction or fsync of its own. Only for what can be made again should
   * a crash lose it: the record then says NOT_MEASURED and Usage measures it.
   */
  recordUsage(id: number, { size, inodes }: DiskUsage): void {
    const record = this.catalog.getById(id);
    if (record?.kind !== 'committed') return;
    // Only the two figures: a caller's measurement may carry more (MeasuredTree).
    this.catalog.put({ ...record, size, inodes });
    this.unwrittenUsage.set(id, { size, inodes });
  }

  /** Runs fn in a transaction, with the usages recorded since the last one; if it throws, nothing of it is kept. */
  private transact<T>(fn: (tx: WriteTransaction) => T): T {
    this.touched.clear();
    try {
      const result = this.transaction.immediate((tx: WriteTransaction) => {
        for (const [id, usage] of this.unwrittenUsage) this.writeUsage.run({ id, ...usage });
        return fn(tx);
      }) as T;
      this.unwrittenUsage.clear();
      return result;
    } catch (error) {
      // Rolled back: put back what the database holds for the ids fn changed.
      for (const id of this.touched) this.refresh(id);
      throw error;
    }
  }

  /** A fresh id, never used before and never handed out again by this process. */
  reserveId(): number {
    return this.nextId++;
  }

  /** Ids are reserved above n from now on (n: the highest directory name found under snapshots/). */
  reserveIdsAbove(n: number): void {
    this.nextId = Math.max(this.nextId, n + 1);
  }

  /** When the fdatasync of the -wal file running now started (performance.now()), if one runs. */
  get syncRunningSinceMs(): number | undefined {
    return this.walSync.runningSinceMs;
  }

  /** fdatasyncs of the -wal file so far: fewer than writes under concurrency (group commit). */
  get walSyncs(): number {
    return this.walSync.syncs;
  }

  close(): void {
    if (this.closed) return;
    if (this.unwrittenUsage.size > 0) {
      try {
        this.transact(() => undefined);
      } catch {
        // Not written (a full disk): those snapshots read NOT_MEASURED at the next start, and Usage measures them again.
      }
    }
    this.closed = true;
    this.walSync.close();
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

  /** Puts the database's record of id (or its absence) in the catalog. */
  private refresh(id: number): void {
    const row = this.byId.get(id);
    const usage = this.unwrittenUsage.get(id);
    if (row === undefined) this.catalog.delete(id);
    else this.catalog.put(usage === undefined ? recordOf(row) : { ...recordOf(row), ...usage });
  }

  /**
   * Runs a change of id's row, then puts the record it wrote (undefined: it
   * deleted the row) in the catalog. Should run throw, the transaction rolls
   * back and write() refreshes id from the database.
   */
  private change(id: number, run: () => void, written: () => SnapshotRecord | undefined): void {
    this.touched.add(id);
    run();
    const record = written();
    if (record === undefined) this.catalog.delete(id);
    else this.catalog.put(record);
  }

  private existing(id: number): SnapshotRecord {
    const record = this.catalog.getById(id);
    if (record === undefined) throw new InternalError(`snapshot id ${id} is not in the catalog`);
    return record;
  }

  private parentNameOf(parentId: number | null): string {
    return parentId === null ? '' : this.existing(parentId).name;
  }

  private prepareStatements(): WriteTransaction {
    const db = this.db;
    const insert = db.prepare(
      `INSERT INTO snapshots (id, name, parent_id, kind, created_us, updated_us, labels)
       VALUES (@id, @name, @parentId, @kind, @now, @now, @labels)`,
    );
    const commit = db.prepare(
      `UPDATE snapshots SET name = @name, parent_id = @parentId, kind = 'committed', created_us = @now,
         updated_us = @now, labels = @labels, size = @size, inodes = @inodes WHERE id = @id`,
    );
    const updateLabels = db.prepare('UPDATE snapshots SET labels = @labels, updated_us = @now WHERE id = @id');
    const restore = db.prepare(
      `UPDATE snapshots SET name = @name, parent_id = @parentId, kind = @kind, created_us = @createdAt,
         updated_us = @updatedAt, labels = @labels, size = @size, inodes = @inodes WHERE id = @id`,
    );
    const remove = db.prepare('DELETE FROM snapshots WHERE id = ?');

    return {
      get: (name) => this.catalog.get(name),
      parentIds: (id) => this.catalog.parentIds(id),
      hasChildren: (id) => this.catalog.hasChildren(id),
      all: () => this.catalog.all(),
      allIds: () => this.catalog.ids(),
      insert: (s) =>
        this.change(
          s.id,
          () => insert.run({ id: s.id, name: s.name, parentId: s.parentId, kind: s.kind, now: s.now, labels: JSON.stringify(s.labels) }),
          () => ({
            id: s.id,
            name: s.name,
            parentId: s.parentId,
            parentName: this.parentNameOf(s.parentId),
            kind: s.kind,
            createdAt: s.now,
            updatedAt: s.now,
            labels: { ...s.labels },
            size: 0,
            inodes: 0,
          }),
        ),
      commit: (c) =>
        this.change(
          c.id,
          () => commit.run({ id: c.id, name: c.name, parentId: c.parentId, now: c.now, labels: JSON.stringify(c.labels), ...storedUsage(c.usage) }),
          () => ({
            ...this.existing(c.id),
            name: c.name,
            parentId: c.parentId,
            parentName: this.parentNameOf(c.parentId),
            kind: 'committed',
            createdAt: c.now,
            updatedAt: c.now,
            labels: { ...c.labels },
            ...storedUsage(c.usage),
          }),
        ),
      updateLabels: (id, labels, now) =>
        this.change(
          id,
          () => updateLabels.run({ id, labels: JSON.stringify(labels), now }),
          () => ({ ...this.existing(id), labels: { ...labels }, updatedAt: now }),
        ),
      restore: (r) =>
        this.change(
          r.id,
          () =>
            restore.run({
              id: r.id,
              name: r.name,
              parentId: r.parentId,
              kind: r.kind,
              createdAt: r.createdAt,
              updatedAt: r.updatedAt,
              labels: JSON.stringify(r.labels),
              size: r.size,
              inodes: r.inodes,
            }),
          () => ({ ...r, parentName: this.parentNameOf(r.parentId), labels: { ...r.labels } }),
        ),
      remove: (id) =>
        this.change(
          id,
          () => remove.run(id),
          () => undefined,
        ),
    };
  }
}
