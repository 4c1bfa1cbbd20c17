/**
 * The daemons' Prometheus endpoints scraped after real traffic, and SIGHUP
 * policy reloads while clients keep calling: a good file is applied, a bad
 * one is refused and the old policy stays, and no call fails meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { waitFor } from '../../harness/wait';
import { sample, scrape } from '../support/metrics-scrape';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { SMALL_UPPER_ENTRIES } from '../../snapshotter/snapshot-service';

test('tsov-snapshotter metrics after real traffic: per-RPC counts by status, latency histograms, process memory, the filesystem threads\' heaps', async (t) => {
  const dir = makeTempDir(t, 'metrics-snap');
  const metricsSocket = path.join(dir, 'metrics.sock');
  const snapshotter = await startSnapshotter(t, path.join(dir, 'root'), path.join(dir, 'tsov.sock'), ['--metrics-address', `unix:${metricsSocket}`]);
  for (let i = 0; i < 5; i++) {
    const [mount] = await snapshotter.client.prepare(`a${i}`);
    // A layer of more files than Commit measures on the loop (SMALL_UPPER_ENTRIES): the measuring thread does.
    for (let f = 0; f <= SMALL_UPPER_ENTRIES; f++) fs.writeFileSync(path.join(mount!.source, `f${f}`), 'x');
    await snapshotter.client.commit(`c${i}`, `a${i}`);
  }
  await t.throwsAsync(snapshotter.client.stat('missing'));
  const text = await scrape(metricsSocket);
  t.is(sample(text, 'tsov_rpc_requests_total', { method: 'Prepare', code: 'OK' }), 5);
  t.is(sample(text, 'tsov_rpc_requests_total', { method: 'Commit', code: 'OK' }), 5);
  t.is(sample(text, 'tsov_rpc_requests_total', { method: 'Stat', code: 'NOT_FOUND' }), 1);
  t.is(sample(text, 'tsov_rpc_duration_seconds_count', { method: 'Prepare' }), 5);
  t.true((sample(text, 'tsov_rpc_duration_seconds_bucket', { method: 'Prepare', le: '+Inf' }) ?? 0) === 5);
  t.regex(text, /^tsov_process_resident_memory_bytes\{daemon="tsov-snapshotter"\} [1-9]\d*$/m);
  // Commit measured each layer's usage on the measuring thread, which is still running: its heap is reported.
  const threadHeap = sample(text, 'tsov_snapshotter_thread_heap_bytes') ?? 0;
  t.true(threadHeap > 2 ** 20, `filesystem threads' heap ${threadHeap} bytes`);
  // The main thread's resident heap is part of the process's resident memory.
  const mainHeap = sample(text, 'tsov_nodejs_heap_resident_bytes') ?? 0;
  const rss = sample(text, 'tsov_process_resident_memory_bytes') ?? 0;
  t.true(mainHeap > 2 ** 20 && mainHeap < rss, `main thread's resident heap ${mainHeap} bytes of ${rss}`);
});

test('tsov-helper metrics: live mounts by backend, mount attempts by result, probe answers', async (t) => {
  const base = makeTempDir(t, 'metrics-helper');
  const layout = helperLayout(base);
  const metricsSocket = path.join(base, 'metrics.sock');
  const withMetrics = await startHelper(t, layout, 'warn', ['--metrics-address', `unix:${metricsSocket}`]);
  const [a, b, target] = makeDirs(...['a', 'b', 'merged'].map((d) => path.join(withMetrics.root, d)));
  await withMetrics.client.probe(withMetrics.root);
  await withMetrics.client.mount({ owner: 'm', lowers: [a!, b!], target: target!, backend: 'kernel', choices: {} });
  await t.throwsAsync(withMetrics.client.mount({ owner: 'm', lowers: ['/etc', b!], target: target!, backend: 'kernel', choices: {} }));
  const text = await scrape(metricsSocket);
  t.is(sample(text, 'tsov_helper_mounts', { backend: 'kernel' }), 1);
  t.is(sample(text, 'tsov_helper_mount_attempts_total', { backend: 'kernel', result: 'mounted' }), 1);
  t.is(sample(text, 'tsov_helper_mount_attempts_total', { backend: 'kernel', result: 'refused' }), 1);
  t.is(sample(text, 'tsov_helper_probe_check', { check: 'mount:overlay', filesystem: 'ext4' }), 1);
  t.is(sample(text, 'tsov_rpc_requests_total', { method: 'Mount', code: 'FAILED_PRECONDITION' }), 1);
  await withMetrics.client.release('m');
});

test('SIGHUP under load: a good policy is applied, a bad one is refused and the old one kept; no call fails', async (t) => {
  const dir = makeTempDir(t, 'reload');
  const config = path.join(dir, 'config.yaml');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  fs.writeFileSync(config, `log:\n  level: info\nsnapshotter:\n  root: ${root}\n  address: ${socket}\n`);
  const snapshotter = await startSnapshotter(t, root, socket, ['--config', config, '--log-level', 'info']);
  let calls = 0;
  const failures: string[] = [];
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      try {
        await snapshotter.client.prepare(`w${w}-${i}`);
        await snapshotter.client.commit(`w${w}-c${i}`, `w${w}-${i}`);
        await snapshotter.client.remove(`w${w}-c${i}`);
        calls += 3;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  const texts = [
    `log:\n  level: debug\nsnapshotter:\n  root: ${root}\n  address: ${socket}\n`,
    'log:\n  level: loud\n',
    `log:\n  level: info\nsnapshotter:\n  root: ${root}-moved\n  address: ${socket}\n`,
    'snapshotter: [not, a, mapping\n',
  ];
  const reloadsHandled = () => snapshotter.stderr().match(/SIGHUP: (policy reloaded|the policy file does not load)/g)?.length ?? 0;
  const callsPerReload: number[] = [];
  for (const [index, text] of texts.entries()) {
    const before = calls;
    fs.writeFileSync(config, text);
    snapshotter.process.kill('SIGHUP');
    // Keep the load running until this reload is handled and calls went on around it.
    await waitFor(`reload ${index + 1} to be handled under load`, () => reloadsHandled() > index && calls >= before + 30);
    callsPerReload.push(calls - before);
  }
  stop = true;
  await Promise.all(workers);
  t.deepEqual(failures, []);
  t.true(callsPerReload.every((n) => n >= 30), `calls around each reload: ${callsPerReload.join(', ')}`);
  t.is(snapshotter.process.exitCode, null, 'still running');
  const log = snapshotter.stderr();
  t.is(log.match(/SIGHUP: policy reloaded/g)?.length, 2, log);
  t.is(log.match(/SIGHUP: the policy file does not load; keeping the policy in force/g)?.length, 2);
  t.regex(log, /log\.level: expected one of error, warn, info, debug, got \\"loud\\"/);
  t.regex(log, /"needs_restart":\["snapshotter.root"\]/);
});

test('SIGHUP in tsov-helper applies new allowed roots to the next request', async (t) => {
  const base = makeTempDir(t, 'reload-helper');
  const layout = helperLayout(base);
  const extra = makeDirs(path.join(base, 'extra'))[0]!;
  const config = path.join(base, 'config.yaml');
  const policy = (roots: string[]) => `helper:\n  allowed_roots: [${roots.join(', ')}]\n`;
  fs.writeFileSync(config, policy(layout.roots));
  const helper = await startHelper(t, { ...layout, roots: [] }, 'info', ['--config', config]);
  const [a, b, target] = makeDirs(path.join(extra, 'a'), path.join(extra, 'b'), path.join(extra, 'merged'));
  const request = { owner: 'r', lowers: [a!, b!], target: target!, backend: 'kernel' as const, choices: {} };
  const refused = await t.throwsAsync(helper.client.mount(request));
  t.regex(refused.message, /is outside the allowed roots/);
  fs.writeFileSync(config, policy([...layout.roots, extra]));
  helper.process.kill('SIGHUP');
  await waitFor('the helper to reload', () => helper.stderr().includes('SIGHUP: policy reloaded'));
  const mounted = await helper.client.mount(request);
  t.is(mounted.state, 'mounted');
  await helper.client.release('r');
});
