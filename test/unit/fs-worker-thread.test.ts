/**
 * The filesystem thread's replies (snapshotter/fs-worker-thread.ts), on a
 * real worker thread: each job is answered by id, and the thread's heap is
 * reported for the metrics at most once a second, because reading it
 * (v8.getHeapStatistics) costs more CPU than the rest of a job's round trip.
 * And how long the thread stays after its last job (fs-worker.ts, nextIdleMs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { FsWorker, MAX_IDLE_MS, RESTART_WINDOW_MS, nextIdleMs, type FsJob, type FsJobReply } from '../../snapshotter/fs-worker';
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

test('nextIdleMs: a thread needed again soon after it stopped stays twice as long, up to MAX_IDLE_MS; one idle for longer than RESTART_WINDOW_MS goes back to the base', (t) => {
  const cases: Array<[current: number, base: number, sinceStopped: number | undefined, expected: number]> = [
    [5_000, 5_000, undefined, 5_000], // the first start
    [5_000, 5_000, 400, 10_000], // back 0.4 s after it stopped: an import every few seconds
    [10_000, 5_000, 2_000, 20_000],
    [40_000, 5_000, 1_000, MAX_IDLE_MS], // capped
    [MAX_IDLE_MS, 5_000, RESTART_WINDOW_MS, MAX_IDLE_MS], // at the window's edge: still soon
    [MAX_IDLE_MS, 5_000, RESTART_WINDOW_MS + 1, 5_000], // quiet for longer: back to the base
    [30_000, 30_000, 100, MAX_IDLE_MS],
    [90_000, 90_000, 100, 90_000], // a base above the cap is kept
  ];
  for (const [current, base, sinceStopped, expected] of cases) t.is(nextIdleMs(current, base, sinceStopped), expected, `${current}, ${base}, ${sinceStopped}`);
});

test('FsWorker on a real thread: it stops after its idle time; started again soon after, it stays twice as long', async (t) => {
  const dir = makeTempDir(t, 'fs-worker-idle');
  const worker = new FsWorker(150);
  t.teardown(() => worker.close());
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await worker.usage(dir);
  t.true(worker.heapBytes > 0, 'a thread runs');
  await sleep(400);
  t.is(worker.heapBytes, 0, 'stopped after 150 ms idle');
  await worker.usage(dir);
  t.is(worker.idleLimitMs, 300, 'needed again 0.25 s after it stopped');
  await sleep(200);
  t.true(worker.heapBytes > 0, 'still there 200 ms after its last job');
  await sleep(350);
  t.is(worker.heapBytes, 0, 'stopped after 300 ms idle');
});
