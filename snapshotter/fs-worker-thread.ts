/**
 * The filesystem worker thread (see fs-worker.ts): runs one job at a time
 * with synchronous system calls and posts the result or the error back.
 * (makeSnapshotDirectories is async only to share its sequence with the event
 * loop's thread-pool version: with SYNC_CALLS every await resolves at once, so
 * a job is done before the next message is read.)
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { measureDiskUsageSync } from './disk-usage';
import { SYNC_CALLS, makeSnapshotDirectories, type DirectoryCalls } from './durable-fs';
import { mayBeMounted, mountedAt, reuseRemovedDirectorySync } from './reused-directories';
import { overlayDirectoriesInUse, parseMountInfo, readNodeMountInfoText } from '../common/mountinfo';
import type { FsJob, FsJobReply, RemoveFailure } from './fs-worker';

const HEAP_REPORT_INTERVAL_MS = 1000;
let heapReportedAtMs = -Infinity;

/**
 * Where a live overlay uses a removed snapshot's directory (its fs/ as
 * upperdir, its work/ as workdir), from the mount tables as they are now
 * (this process's and the node's: readNodeMountInfoText), read once for the
 * returned function's life and parsed only if they can name a directory asked
 * about (mayBeMounted); undefined when this process's table cannot be read.
 */
function liveOverlayCheck(): ((dir: string) => string | undefined) | undefined {
  let tables: string;
  try {
    tables = readNodeMountInfoText();
  } catch {
    return undefined;
  }
  let inUse: ReadonlyMap<string, string> | undefined;
  return (dir) => (mayBeMounted(dir, tables) ? mountedAt(dir, (inUse ??= overlayDirectoriesInUse(parseMountInfo(tables)))) : undefined);
}

/**
 * The calls for one make job. Reusing a removed snapshot's directory is
 * synchronous (reused-directories.ts): only this thread's calls can. A
 * directory a live overlay still uses is not reused (the removals hold it
 * when they try to delete it: removeUnlessMounted), and none is when the
 * mount table cannot be read.
 */
function makeCalls(job: Extract<FsJob, { op: 'make' }>): DirectoryCalls {
  if (job.reuse === undefined || job.reuse.length === 0) return SYNC_CALLS;
  const mountPointOf = liveOverlayCheck();
  if (mountPointOf === undefined) return SYNC_CALLS;
  return { ...SYNC_CALLS, reuse: (from, to) => (mountPointOf(from) === undefined ? reuseRemovedDirectorySync(from, to) : undefined) };
}

/**
 * rm -r of each removed snapshot's directory, except one a live overlay
 * still uses (liveOverlayCheck): deleting it would take a running
 * container's files from under it (ctr snapshots rm of a running
 * container's snapshot, or a mount that outlived its container). That one is
 * left, reported with its mount point, for the caller to try again later.
 * When the mount table cannot be read, each is deleted, as containerd's
 * overlayfs snapshotter deletes them.
 */
function removeUnlessMounted(dirs: readonly string[]): RemoveFailure[] {
  const mountPointOf = liveOverlayCheck() ?? (() => undefined);
  const failures: RemoveFailure[] = [];
  for (const dir of dirs) {
    const mountPoint = mountPointOf(dir);
    if (mountPoint !== undefined) {
      failures.push({ path: dir, message: `an overlay mounted at ${mountPoint} still uses its fs/ or work/`, mountPoint });
      continue;
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      failures.push({ path: dir, message: (error as Error).message });
    }
  }
  return failures;
}

const port = parentPort;
if (port === null) throw new Error('fs-worker-thread runs only as a worker thread');

port.on('message', async (job: FsJob) => {
  let reply: FsJobReply;
  try {
    if (job.op === 'usage') reply = { id: job.id, usage: measureDiskUsageSync(job.path, job.directoryLimit) };
    else if (job.op === 'make') {
      const reused = await makeSnapshotDirectories(
        makeCalls(job),
        job.paths.map((dir, i) => ({ dir, kind: job.kind, owner: job.owner, reuse: job.reuse?.[i] })),
        job.parent,
      );
      reply = { id: job.id, reused };
    } else {
      reply = { id: job.id, failures: removeUnlessMounted(job.paths) };
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    reply = { id: job.id, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } };
  }
  // What this thread's heap holds now, for the snapshotter's metrics (its RSS is shared with the
  // main thread's): at most once a second, as v8.getHeapStatistics() costs ~50 µs of CPU, more
  // than the rest of a job's round trip (measured: 92 against 41 µs back to back).
  const now = performance.now();
  if (now - heapReportedAtMs >= HEAP_REPORT_INTERVAL_MS) {
    heapReportedAtMs = now;
    reply.heapBytes = v8.getHeapStatistics().total_physical_size;
  }
  port.postMessage(reply);
});
