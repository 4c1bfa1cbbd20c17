/**
 * Opening a tsov SQLite file: WAL mode and schema migrations tracked in
 * user_version. Shared by the snapshotter's metadata and the helper's mount
 * journal. With synchronous=FULL a committed transaction is on disk before the
 * call returns; with NORMAL the caller makes it durable itself: both daemons
 * do, with WalSync (an fdatasync of the WAL off the event loop, once per
 * group of commits).
 * An exclusive database is locked by its one connection for as long as it is
 * open: no file lock is taken and dropped around each transaction (six fcntl
 * calls each), the WAL index lives in the process's memory instead of a
 * shared -shm mapping, and a second process opening the file is refused
 * ("database is locked") instead of interleaving its writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { FailedPreconditionError, InternalError } from './errors';
import { fsyncDirectory } from './fsync-directory';
import { GroupSync, type StallReport } from './group-sync';

export interface DatabaseOptions {
  /** FULL: durable on return; NORMAL: durable after an fsync of the -wal file. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Only this connection ever opens the file (locking_mode=EXCLUSIVE). */
  exclusive?: boolean;
}

/**
 * @param migrations entry i migrates the schema from version i to i + 1
 * @param owner the program that writes this file, named in the "too new" error
 */
export function openDatabase(file: string, migrations: readonly string[], owner: string, options: DatabaseOptions = {}): Database.Database {
  const db = new Database(file);
  try {
    // Before the first access: an exclusive WAL database never creates the shared-memory index.
    if (options.exclusive === true) db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, file, migrations, owner);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function migrate(db: Database.Database, file: string, migrations: readonly string[], owner: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new FailedPreconditionError(
      `${file} has schema version ${current}, newer than this tsov's ${migrations.length}; run the newer ${owner} or restore a backup`,
    );
  }
  db.transaction(() => {
    for (let version = current; version < migrations.length; version++) db.exec(migrations[version]!);
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}

const fdatasync = promisify(fs.fdatasync);

/** A change was committed but the fsync that makes it durable failed: it may or may not survive a crash. */
export class NotDurableError extends InternalError {}

/**
 * What makes a synchronous=NORMAL WAL database's commits durable: an
 * fdatasync of its -wal file on libuv's thread pool, shared by every commit
 * made meanwhile (group commit, group-sync.ts), so the event loop never
 * waits on the disk and a stalled disk can be reported (stall) while health
 * checks and reads are still answered. Open it after the database (the -wal
 * file exists then); close it before.
 */
export class WalSync {
  /** The -wal file, held open for the life of the connection (SQLite keeps its inode until the last close). */
  private readonly fd: number;
  private readonly group: GroupSync;

  /**
   * @param change what a commit is, for the error of a failed sync ("the metadata change")
   * @param stall reports an fdatasync that runs past its limit (group-sync.ts)
   */
  constructor(
    private readonly databaseFile: string,
    private readonly change: string,
    stall?: StallReport,
  ) {
    this.fd = fs.openSync(`${databaseFile}-wal`, 'r');
    try {
      // The -wal file may have just been created: make its directory entry durable once.
      fsyncDirectory(path.dirname(databaseFile));
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
    this.group = new GroupSync(() => fdatasync(this.fd), stall);
  }

  /** Resolves once everything committed before the call is durable; NotDurableError if its sync failed. */
  async wait(): Promise<void> {
    try {
      await this.group.wait();
    } catch (error) {
      throw new NotDurableError(`${this.change} was committed but its fsync failed (${String(error)}); check the disk holding ${this.databaseFile}`, { cause: error });
    }
  }

  /** When the fdatasync running now started (performance.now()), if one runs. */
  get runningSinceMs(): number | undefined {
    return this.group.runningSinceMs;
  }

  /** fdatasyncs so far: fewer than commits under concurrency. */
  get syncs(): number {
    return this.group.syncs;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
