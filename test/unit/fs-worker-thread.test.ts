/**
 * The filesystem thread's replies (snapshotter/fs-worker-thread.ts), on a
 * real worker thread: each job is answered by id, and the thread's heap is
 * reported for the metrics at most once a second, because reading it
 * (v8.getHeapStatistics) costs more CPU than the rest of a job's round trip.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import type { FsJob, FsJobReply } from '../../snapshotter/fs-worker';
import { makeTempDir } from '../support/temp-dir';

const THREAD_MAIN = path.join(__dirname, '..', '..', 'snapshotter', 'fs-worker-thread.js');

test('jobs are answered by id; the heap is reported with the first reply, then at most once a second', async (t) => {
  const dir = makeTempDir(t, 'fs-worker-thread');
  fs.writeFileSync(path.join(dir, 'file'), 'x'.repeat(5000));
  const worker = new Worker(THREAD_MAIN);
  t.teardown(() => worker.terminate());
  const replies: FsJobReply[] = [];
  const jobs = 20;
  const started = performance.now();
  for (let id = 1; id <= jobs; id++) {
    const reply = await new Promise<FsJobReply>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ op: 'usage', path: dir, directoryLimit: 0, id } satisfies FsJob);
    });
    replies.push(reply);
  }
  const elapsedMs = performance.now() - started;
  t.deepEqual(
    replies.map((r) => r.id),
    Array.from({ length: jobs }, (_, i) => i + 1),
  );
  t.true(replies.every((r) => r.usage !== undefined && r.usage.inodes === 2), 'each job measured the directory and its file');
  t.true((replies[0]!.heapBytes ?? 0) > 2 ** 20, `first reply's heap: ${replies[0]!.heapBytes} bytes`);
  const reports = replies.filter((r) => r.heapBytes !== undefined).length;
  t.true(reports <= 1 + Math.floor(elapsedMs / 1000), `${reports} heap reports in ${jobs} replies over ${elapsedMs.toFixed(0)} ms`);
});
