/**
 * Directory operations whose effect must survive a crash before the metadata
 * that names them is committed: fsync of a directory makes its new entries
 * durable. All asynchronous: they run on libuv's thread pool so that one
 * snapshot's fsync does not hold up other requests.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';

/** The process umask, read once (from /proc: process.umask() without an argument is deprecated). */
const UMASK = Number.parseInt(/^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '777', 8);

/** fsync(2) of a file or directory by path. */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir with an exact mode, whatever the process umask (chmod only when the umask masks bits of it). */
export async function makeDirectory(dir: string, mode: number): Promise<void> {
  await fs.mkdir(dir, { mode });
  if ((mode & UMASK) !== 0) await fs.chmod(dir, mode);
}
