/**
 * Reading tsov-snapshotter's metadata.db from a test. The snapshotter holds
 * the database exclusively while it runs (locking_mode=EXCLUSIVE: another
 * connection gets "database is locked"), so a test reads a copy of the file
 * and its WAL: what a crash at this moment would leave on disk, opened the way
 * the snapshotter's next start opens it. The same works for people (README,
 * Durability): copy metadata.db and metadata.db-wal, then open the copy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export function readMetadataCopy<T>(file: string, read: (db: Database.Database) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-metadata-copy-'));
  try {
    const copy = path.join(dir, path.basename(file));
    fs.copyFileSync(file, copy);
    if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
    const db = new Database(copy, { fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
