/**
 * The filesystem worker thread (see fs-worker.ts): runs one job at a time
 * with synchronous system calls and posts the result or the error back.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { measureDiskUsageSync } from './disk-usage';
import { makeSnapshotDirectorySync } from './durable-fs';
import type { FsJob, FsJobReply } from './fs-worker';

const port = parentPort;
if (port === null) throw new Error('fs-worker-thread runs only as a worker thread');

port.on('message', (job: FsJob) => {
  let reply: FsJobReply;
  try {
    if (job.op === 'usage') reply = { id: job.id, usage: measureDiskUsageSync(job.path, job.directoryLimit ?? 0) };
    else if (job.op === 'make') {
      for (const dir of [job.path, ...(job.more ?? [])]) makeSnapshotDirectorySync({ dir, kind: job.kind ?? 'active', owner: job.owner });
      reply = { id: job.id };
    } else {
      fs.rmSync(job.path, { recursive: true, force: true });
      reply = { id: job.id };
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    reply = { id: job.id, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } };
  }
  port.postMessage(reply);
});
