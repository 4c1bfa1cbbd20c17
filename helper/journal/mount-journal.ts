/**
 * The helper's journal of the mounts it made, in SQLite (same durability as
 * the snapshotter's metadata). A row is written as 'mounting' before the
 * mount(2) call and becomes 'mounted' after it, so a crash at any moment
 * leaves a row that reconciliation at the next start can settle.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../common/sqlite-database';
import type { ResolvedBackend } from '../api/mount-request';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE mounts (
     id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old id cannot name a new mount
     owner            TEXT    NOT NULL,
     backend          TEXT    NOT NULL CHECK (backend IN ('kernel', 'fuse', 'memory')),
     backend_reason   TEXT    NOT NULL DEFAULT '',
     lowers           TEXT    NOT NULL,                    -- JSON array, topmost first
     upper            TEXT,
     work             TEXT,
     target           TEXT    NOT NULL,
     options          TEXT    NOT NULL DEFAULT '',
     memory_dir       TEXT,
     owner_alive_path TEXT,
     owner_pid        INTEGER,
     owner_start_time TEXT,
     state            TEXT    NOT NULL CHECK (state IN ('mounting', 'mounted')),
     created_ms       INTEGER NOT NULL
   );
   CREATE INDEX mounts_owner ON mounts(owner);`,
];

export interface OwnerLiveness {
  alivePath?: string;
  pid?: number;
  /** Start time of pid when the mount was made (guards against pid reuse). */
  pidStartTime?: string;
}

export interface JournalEntry {
  id: number;
  owner: string;
  backend: ResolvedBackend;
  backendReason: string;
  lowers: string[];
  upper?: string;
  work?: string;
  target: string;
  options: string;
  /**
   * The mount's own directory under the helper's state dir (column memory_dir):
   * the tmpfs of a memory mount, or the staged layer binds of a fuse mount.
   */
  privateDir?: string;
  liveness: OwnerLiveness;
  state: 'mounting' | 'mounted';
  createdMs: number;
}

export type NewJournalEntry = Omit<JournalEntry, 'id' | 'state' | 'options' | 'privateDir'>;

interface Row {
  id: number;
  owner: string;
  backend: ResolvedBackend;
  backend_reason: string;
  lowers: string;
  upper: string | null;
  work: string | null;
  target: string;
  options: string;
  memory_dir: string | null;
  owner_alive_path: string | null;
  owner_pid: number | null;
  owner_start_time: string | null;
  state: 'mounting' | 'mounted';
  created_ms: number;
}

function entryOf(row: Row): JournalEntry {
  return {
    id: row.id,
    owner: row.owner,
    backend: row.backend,
    backendReason: row.backend_reason,
    lowers: JSON.parse(row.lowers) as string[],
    upper: row.upper ?? undefined,
    work: row.work ?? undefined,
    target: row.target,
    options: row.options,
    privateDir: row.memory_dir ?? undefined,
    liveness: { alivePath: row.owner_alive_path ?? undefined, pid: row.owner_pid ?? undefined, pidStartTime: row.owner_start_time ?? undefined },
    state: row.state,
    createdMs: row.created_ms,
  };
}

export class MountJournal {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(file: string) {
    this.db = openDatabase(file, MIGRATIONS, 'tsov-helper');
    const db = this.db;
    this.statements = {
      insert: db.prepare(`INSERT INTO mounts (owner, backend, backend_reason, lowers, upper, work, target, memory_dir,
                            owner_alive_path, owner_pid, owner_start_time, state, created_ms)
                          VALUES (@owner, @backend, @backend_reason, @lowers, @upper, @work, @target, NULL,
                            @owner_alive_path, @owner_pid, @owner_start_time, 'mounting', @created_ms)`),
      markMounted: db.prepare(`UPDATE mounts SET state = 'mounted', options = ? WHERE id = ?`),
      setPrivateDir: db.prepare('UPDATE mounts SET memory_dir = ? WHERE id = ?'),
      adopt: db.prepare(`UPDATE mounts SET state = 'mounted' WHERE id = ?`),
      remove: db.prepare('DELETE FROM mounts WHERE id = ?'),
      get: db.prepare<[number], Row>('SELECT * FROM mounts WHERE id = ?'),
      all: db.prepare<[], Row>('SELECT * FROM mounts ORDER BY id'),
      byOwner: db.prepare<[string], Row>('SELECT * FROM mounts WHERE owner = ? ORDER BY id'),
    };
  }

  /** Records the intent to mount; the returned id names the mount from now on. */
  begin(entry: NewJournalEntry): number {
    const result = this.statements.insert.run({
      owner: entry.owner,
      backend: entry.backend,
      backend_reason: entry.backendReason,
      lowers: JSON.stringify(entry.lowers),
      upper: entry.upper ?? null,
      work: entry.work ?? null,
      target: entry.target,
      owner_alive_path: entry.liveness.alivePath ?? null,
      owner_pid: entry.liveness.pid ?? null,
      owner_start_time: entry.liveness.pidStartTime ?? null,
      created_ms: entry.createdMs,
    });
    return Number(result.lastInsertRowid);
  }

  markMounted(id: number, options: string): void {
    this.statements.markMounted.run(options, id);
  }

  /** The mount's private directory (memory tmpfs, fuse staging); recorded before anything is mounted there. */
  setPrivateDir(id: number, privateDir: string): void {
    this.statements.setPrivateDir.run(privateDir, id);
  }

  /** A 'mounting' row whose mount turned out to exist after a crash. */
  adopt(id: number): void {
    this.statements.adopt.run(id);
  }

  remove(id: number): void {
    this.statements.remove.run(id);
  }

  get(id: number): JournalEntry | undefined {
    const row = this.statements.get.get(id);
    return row === undefined ? undefined : entryOf(row);
  }

  all(): JournalEntry[] {
    return this.statements.all.all().map(entryOf);
  }

  byOwner(owner: string): JournalEntry[] {
    return this.statements.byOwner.all(owner).map(entryOf);
  }

  close(): void {
    this.db.close();
  }
}
