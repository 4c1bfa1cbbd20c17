/**
 * The helper's journal of the mounts it made, in SQLite (same durability as
 * the snapshotter's metadata). A row is written as 'mounting' before the
 * mount(2) call and becomes 'mounted' after it, so a crash at any moment
 * leaves a row that reconciliation at the next start can settle.
 *
 * Each change resolves once it is durable: committed in WAL mode with
 * synchronous=NORMAL, then an fdatasync of the -wal file on libuv's thread
 * pool (WalSync). The event loop never waits on the disk, so while a stalled
 * disk holds a Mount, the helper still answers its health check (NOT_SERVING,
 * with the reason) and its List instead of nothing at all.
 */
import type Database from 'better-sqlite3';
import type { StallReport } from '../../common/group-sync';
import { WalSync, openDatabase } from '../../common/sqlite-database';
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
  private readonly wal: WalSync;
  private readonly statements;

  /** @param options.stall reports an fdatasync of the WAL that runs past its limit (group-sync.ts) */
  constructor(file: string, options: { stall?: StallReport } = {}) {
    this.db = openDatabase(file, MIGRATIONS, 'tsov-helper', { synchronous: 'NORMAL' });
    try {
      this.wal = new WalSync(file, "the mount journal's change", options.stall);
    } catch (error) {
      this.db.close();
      throw error;
    }
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

  /** Records the intent to mount, durably; the id names the mount from now on. */
  async begin(entry: NewJournalEntry): Promise<number> {
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
    await this.wal.wait();
    return Number(result.lastInsertRowid);
  }

  async markMounted(id: number, options: string): Promise<void> {
    this.statements.markMounted.run(options, id);
    await this.wal.wait();
  }

  /** The mount's private directory (memory tmpfs, fuse staging); recorded, durably, before anything is mounted there. */
  async setPrivateDir(id: number, privateDir: string): Promise<void> {
    this.statements.setPrivateDir.run(privateDir, id);
    await this.wal.wait();
  }

  /** A 'mounting' row whose mount turned out to exist after a crash. */
  async adopt(id: number): Promise<void> {
    this.statements.adopt.run(id);
    await this.wal.wait();
  }

  async remove(id: number): Promise<void> {
    this.statements.remove.run(id);
    await this.wal.wait();
  }

  /** When the fdatasync running now started (performance.now()), if one runs: how long the disk has kept the callers waiting. */
  get syncRunningSinceMs(): number | undefined {
    return this.wal.runningSinceMs;
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
    this.wal.close();
    this.db.close();
  }
}
