/**
 * Temporary directories that a test removes in its teardown, pass or fail.
 * Mounts left below one are detached first, so the removal never walks into a
 * mounted filesystem.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { unmountAllUnder } from '../../harness/mounts';

export function makeTempDir(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsov-${prefix}-`));
  t.teardown(() => {
    unmountAllUnder(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
