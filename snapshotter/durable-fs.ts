/**
 * Directory creation with an exact mode, asynchronous (on libuv's thread
 * pool) so that one snapshot's filesystem calls do not hold up other requests.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';

/** The process umask, read once (from /proc: process.umask() without an argument is deprecated). */
const UMASK = Number.parseInt(/^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '777', 8);

/** mkdir with an exact mode, whatever the process umask (chmod only when the umask masks bits of it). */
export async function makeDirectory(dir: string, mode: number): Promise<void> {
  await fs.mkdir(dir, { mode });
  if ((mode & UMASK) !== 0) await fs.chmod(dir, mode);
}
