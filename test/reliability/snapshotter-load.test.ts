/**
 * Load: 32 clients call tsov-snapshotter for 60 s (TSOV_LOAD_SECONDS to
 * change it) with a mix of every RPC containerd makes. Zero errors; the
 * daemon's event loop never stalls over 100 ms (prom-client's
 * monitorEventLoopDelay, read from its metrics endpoint every 2 s, which
 * resets the maximum each time); memory is flat after warm-up (the first
 * half of the run): the main thread's old and large-object spaces, and
 * resident memory less every V8 heap; the directories of removed snapshots never wait
 * for deletion in a backlog beyond DeferredRemovals' bound (twice
 * MAX_PENDING, and the Removes in flight that then wait for their own), and
 * all are gone once the load stops.
 */
import path from 'node:path';
import test from 'ava';
import { MAX_PENDING } from '../../snapshotter/deferred-removals';
import { Random, testSeed } from '../support/random';
import { sample, scrape } from '../support/metrics-scrape';
import { SnapshotsClient } from '../support/snapshots-client';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { snapshotDirectories } from '../support/snapshot-directories';
import { MAX_SPARE_DIRECTORIES } from '../../snapshotter/snapshot-service';

const SEED = testSeed(32);
const CLIENTS = 32;
const SECONDS = Number(process.env.TSOV_LOAD_SECONDS ?? 60);
const MAX_LAG_SECONDS = 0.1;

async function client(c: SnapshotsClient, random: Random, id: number, stopped: () => boolean, errors: string[]): Promise<number> {
  let calls = 0;
  const call = async <T>(what: string, run: () => Promise<T>): Promise<T | undefined> => {
    calls++;
    try {
      return await run();
    } catch (error) {
      errors.push(`client ${id} ${what}: ${(error as Error).message}`);
      return undefined;
    }
  };
  await call('prepare base', () => c.prepare(`c${id}-base-a`, '', { client: String(id) }));
  await call('commit base', () => c.commit(`c${id}-base`, `c${id}-base-a`, { client: String(id) }));
  for (let i = 0; !stopped(); i++) {
    const key = `c${id}-${i}`;
    await call('prepare', () => c.prepare(key, `c${id}-base`, { i: String(i) }));
    await call('mounts', () => c.mounts(key));
    switch (random.int(4)) {
      case 0:
        await call('usage', () => c.usage(key));
        await call('remove active', () => c.remove(key));
        break;
      case 1:
        await call('commit', () => c.commit(`${key}-c`, key));
        await call('stat', () => c.stat(`${key}-c`));
        await call('update', () => c.update({ name: `${key}-c`, labels: { seen: 'yes' } }, ['labels.seen']));
        await call('remove committed', () => c.remove(`${key}-c`));
        break;
      case 2:
        await call('view', () => c.view(`${key}-v`, `c${id}-base`));
        await call('remove view', () => c.remove(`${key}-v`));
        await call('remove active', () => c.remove(key));
        break;
      default:
        await call('list', () => c.list([`labels."client"==${id}`]));
        await call('remove active', () => c.remove(key));
    }
  }
  return calls;
}

test(`${CLIENTS} clients for ${SECONDS} s of mixed RPCs: no error, no event-loop stall over ${MAX_LAG_SECONDS * 1000} ms, memory flat (seed ${SEED})`, async (t) => {
  t.timeout((SECONDS + 60) * 1000);
  const dir = makeTempDir(t, 'load');
  const metrics = path.join(dir, 'metrics.sock');
  const socket = path.join(dir, 'tsov.sock');
  const snapshotter = await startSnapshotter(t, path.join(dir, 'root'), socket, ['--metrics-address', `unix:${metrics}`]);
  const random = new Random(SEED);
  const errors: string[] = [];
  let stopped = false;
  const clients = Array.from({ length: CLIENTS }, () => new SnapshotsClient(socket));
  // The lag maximum resets at each scrape: scraping once before the load makes the first
  // window start with it, not with the daemon's start-up.
  await scrape(metrics);
  const started = Date.now();
  const running = clients.map((c, id) => client(c, new Random(random.int(2 ** 31)), id, () => stopped, errors));

  // V8 grows its heap for the first ~30 s of this load, then a major GC settles RSS (measured:
  // 116 → 153 MiB up to 32 s, then 140–142 MiB until 120 s, heap used 15–33 MiB throughout).
  const warmUpMs = (SECONDS * 1000) / 2;
  const lags: number[] = [];
  const rss: Array<{ at: number; bytes: number }> = [];
  const heap: number[] = [];
  const threadHeaps: number[] = [];
  const mainHeaps: number[] = [];
  const awaitingDeletion: number[] = [];
  while (Date.now() - started < SECONDS * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const text = await scrape(metrics);
    const at = Date.now() - started;
    lags.push(sample(text, 'tsov_nodejs_eventloop_lag_max_seconds') ?? Number.NaN);
    awaitingDeletion.push(sample(text, 'tsov_snapshot_directories_awaiting_deletion') ?? Number.NaN);
    if (at < warmUpMs) continue;
    rss.push({ at, bytes: sample(text, 'tsov_process_resident_memory_bytes') ?? Number.NaN });
    threadHeaps.push(sample(text, 'tsov_snapshotter_thread_heap_bytes') ?? Number.NaN);
    mainHeaps.push(sample(text, 'tsov_nodejs_heap_resident_bytes') ?? Number.NaN);
    // Old and large-object space: where what survives collections (a leak) accumulates (a
    // growing Map's or Set's table is a large object); the young generation is left out.
    heap.push((sample(text, 'tsov_nodejs_heap_space_size_used_bytes', { space: 'old' }) ?? Number.NaN) + (sample(text, 'tsov_nodejs_heap_space_size_used_bytes', { space: 'large_object' }) ?? Number.NaN));
  }
  stopped = true;
  const calls = (await Promise.all(running)).reduce((a, b) => a + b, 0);
  clients.forEach((c) => c.close());
  // Quiet now: the directories still waiting are deleted within QUIET_MS and a few batches.
  let left = Number.NaN;
  for (let tries = 0; tries < 50 && left !== 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    left = sample(await scrape(metrics), 'tsov_snapshot_directories_awaiting_deletion') ?? Number.NaN;
  }
  const directories = snapshotDirectories(path.join(dir, 'root'));
  const onDisk = directories.named.length + directories.stray.length;
  const records = (await snapshotter.client.list()).length;

  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const worstLag = Math.max(...lags);
  const firstRss = rss[0]!.bytes;
  const lastRss = rss[rss.length - 1]!.bytes;
  const peakRss = Math.max(...rss.map((r) => r.bytes));
  t.log(`${calls} calls in ${SECONDS} s (${Math.round(calls / SECONDS)}/s), ${errors.length} errors`);
  t.log(`event-loop lag max per 2 s window, whole run: worst ${(worstLag * 1000).toFixed(1)} ms over ${lags.length} windows`);
  t.log(`lag ms per window: ${lags.map((lag) => (lag * 1000).toFixed(0)).join(' ')}`);
  t.log(`RSS after warm-up ${mib(firstRss)} MiB, at the end ${mib(lastRss)} MiB, peak ${mib(peakRss)} MiB`);
  t.log(`RSS MiB: ${rss.map((r) => mib(r.bytes)).join(' ')}`);
  t.log(`old + large-object space used MiB: ${heap.map(mib).join(' ')}`);
  t.log(`filesystem threads' heaps MiB: ${threadHeaps.map(mib).join(' ')}`);
  t.log(`main thread's heap resident MiB: ${mainHeaps.map(mib).join(' ')}`);
  t.log(`directories awaiting deletion per window: ${awaitingDeletion.join(' ')}; 10 s after the load ${left}; ${onDisk} directories for ${records} snapshots, and ${directories.spares.length} spares`);
  t.deepEqual(errors.slice(0, 10), [], `${errors.length} errors`);
  t.true(lags.length >= 3 && lags.every(Number.isFinite), `lag samples: ${lags.join(', ')}`);
  t.true(worstLag < MAX_LAG_SECONDS, `event loop stalled ${(worstLag * 1000).toFixed(1)} ms`);
  t.true(Math.max(...awaitingDeletion) <= 2 * MAX_PENDING + CLIENTS, `deletions fell behind: ${Math.max(...awaitingDeletion)} directories waiting`);
  t.is(left, 0, 'directories still waiting for deletion after the load stopped');
  t.is(onDisk, records, 'a directory under snapshots/ for each snapshot, no more');
  t.true(directories.spares.length <= MAX_SPARE_DIRECTORIES, `${directories.spares.length} spare directories, more than the ${MAX_SPARE_DIRECTORIES} the pool grows to`);
  // Flat: memory saws up and down with V8's collections; what a leak raises is the floor after
  // each collection. The old and large-object spaces' floor must not grow from the first third of the run to the
  // last by more than a quarter and 8 MiB (16 samples seldom land right after a major collection;
  // a leak of 100 bytes per call is ~9 MiB over this run and more over longer ones).
  // What lies outside the JavaScript heaps (SQLite, Buffers, gRPC's and the allocators' memory,
  // code) is judged on its own: RSS less the resident V8 heaps of the main thread
  // (tsov_nodejs_heap_resident_bytes) and of the filesystem threads (tsov_snapshotter_thread_heap_bytes).
  // RSS itself is no measure of a leak: V8 keeps pages it has collected for a while, so RSS
  // swings by ~20 MiB with no leak and its floor over a few samples is chance (CI, a8d582d:
  // 95.2 → 107.1 MiB from the middle third to the last with the old-space floor at 10.9 MiB),
  // and a filesystem thread that starts mid-run adds ~8 MiB of heap. Less those heaps, the
  // rest moves by under 1 MiB between samples (measured: 69.3 → 71.8 MiB over 240 s, flat
  // from 120 s), but it can step up by 3-4 MiB once in a run with no leak (the allocators'
  // high-water marks; twice in ten 60-s runs; the most any of them grew from the first third to
  // the last was 3.4 MiB, 5.2%), so it may grow by 10% from the first third to the last.
  // Leaks put into the daemon by hand: 460 bytes per Mounts (~100 bytes a call) grew it by
  // 12.7% and fail; 1 KiB per Stat (~50 bytes a call) grew it by 8-9% and pass (a leak first
  // fills the holes the allocators keep), as does anything smaller.
  const third = Math.max(1, Math.floor(rss.length / 3));
  const floor = (samples: readonly number[]) => Math.min(...samples);
  const nativeBytes = rss.map((r, i) => r.bytes - threadHeaps[i]! - mainHeaps[i]!);
  const heapEarly = floor(heap.slice(0, third));
  const heapLate = floor(heap.slice(-third));
  const nativeEarly = floor(nativeBytes.slice(0, third));
  const nativeLate = floor(nativeBytes.slice(-third));
  t.log(`RSS less the V8 heaps MiB: ${nativeBytes.map(mib).join(' ')}`);
  t.log(`old + large-object floor: first third ${mib(heapEarly)} MiB, last third ${mib(heapLate)} MiB; RSS less the V8 heaps, floor: first third ${mib(nativeEarly)} MiB, last third ${mib(nativeLate)} MiB`);
  t.true(threadHeaps.every(Number.isFinite) && mainHeaps.every(Number.isFinite), `heap samples: threads ${threadHeaps.join(', ')}; main ${mainHeaps.join(', ')}`);
  t.true(heapLate <= heapEarly * 1.25 + 8 * 2 ** 20, `old + large-object floor grew from ${mib(heapEarly)} to ${mib(heapLate)} MiB`);
  t.true(nativeLate <= nativeEarly * 1.1, `RSS less the V8 heaps: floor grew from ${mib(nativeEarly)} to ${mib(nativeLate)} MiB`);
  t.true(calls > CLIENTS * 10, 'the load really ran');
  t.is(snapshotter.process.exitCode, null, 'still running');
});
