/**
 * The disk under a running daemon stops answering, as a network volume or a
 * failing device does: writes still land in the page cache and every fsync
 * waits (test/support/stalling-disk.ts). tsov-snapshotter: write calls wait;
 * reads are answered from memory. tsov-helper: a Mount waits for its journal
 * entry; List is answered. Each logs which sync waits, and gRPC's health
 * check answers NOT_SERVING with the reason until the disk answers again
 * (common/disk-stall.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { waitFor } from '../../harness/wait';
import { goHealthCheck } from '../support/go-harness';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { makeDirs, startHelper } from '../support/helper-process';
import { DeadlineExceededError } from '../../common/errors';
import { HelperClient } from '../../helper/api/helper-client';
import { stallingDisk } from '../support/stalling-disk';
import { sample, scrape } from '../support/metrics-scrape';

const health = (daemon: 'snapshotter' | 'helper') => (socket: string, ...more: string[]) =>
  spawnSync(process.execPath, [CLI_MAIN, 'health', daemon, '--socket', socket, '--timeout', '5', ...more], { encoding: 'utf8', timeout: 30_000 });
const tsovHealth = health('snapshotter');

/** A temporary directory with a stalling disk in it, and a policy that calls a 1-s sync stalled for daemon. */
async function stallSetup(t: ExecutionContext, daemon: 'snapshotter' | 'helper') {
  const dir = makeTempDir(t, `${daemon}-disk-stall`);
  const stalling = await stallingDisk(t, dir);
  const policy = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policy, `${daemon}:\n  disk_stall_seconds: 1\n`);
  return { dir, stalling, policy };
}

/**
 * stallSetup for tsov-helper: its journal (the state directory) on the stalling disk, the layers
 * not; a lower with one file, an upper, a work directory and a target for a Mount.
 */
async function helperStallSetup(t: ExecutionContext) {
  const setup = await stallSetup(t, 'helper');
  const layers = path.join(setup.dir, 'layers');
  const layout = { socket: path.join(setup.dir, 'run', 'helper.sock'), stateDir: path.join(setup.stalling.root, 'state'), roots: [layers] };
  const [lower, upper, work, target] = makeDirs(...['lower', 'upper', 'work', 'target'].map((name) => path.join(layers, name)));
  fs.writeFileSync(path.join(lower!, 'from-the-layer'), 'x');
  return { ...setup, layout, lower, upper, work, target };
}

test('a stalled disk: write calls wait, reads are answered, the log says what waits, and the health check is NOT_SERVING until the disk answers', async (t) => {
  const { dir, stalling, policy } = await stallSetup(t, 'snapshotter');
  const socket = path.join(dir, 'tsov.sock');
  const metrics = path.join(dir, 'metrics.sock');
  const snapshotter = await startSnapshotter(t, path.join(stalling.root, 'tsov'), socket, ['--config', policy, '--log-level', 'info', '--metrics-address', `unix:${metrics}`]);
  const oldestSync = async () => sample(await scrape(metrics), 'tsov_snapshotter_oldest_sync_wait_seconds');
  // Runs first: nothing else in the teardown can finish while the disk is stopped.
  t.teardown(() => stalling.resume());
  const c = snapshotter.client;
  await c.prepare('before');
  t.is(tsovHealth(socket).status, 0);
  t.is(await oldestSync(), 0, 'no sync runs');

  stalling.hang();
  let settled = false;
  const during = c.prepare('during').finally(() => (settled = true));
  await waitFor('the stall to be logged', () => snapshotter.stderr().includes('has not made'), 15_000);
  const warning = JSON.parse(snapshotter.stderr().split('\n').find((line) => line.includes('has not made'))!) as Record<string, unknown>;
  t.is(warning.level, 'warn');
  t.regex(String(warning.message), /^the disk has not made the snapshot metadata \(fdatasync of .*metadata\.db-wal\) durable for [0-9.]+ s: calls that change snapshots \(Prepare, Commit, Remove\) wait for it/);
  t.true(Number(warning.waited_seconds) >= 1);

  const health = tsovHealth(socket);
  t.is(health.status, 1, health.stdout + health.stderr);
  // The reason rides in the Check reply's trailer: the probe's output names the disk.
  t.regex(health.stderr, /: NOT_SERVING: it answers but does not serve calls \(a write has waited [0-9.]+ s for the disk to make it durable .*check the disk or volume/);
  t.deepEqual(goHealthCheck(socket, ''), { status: 'NOT_SERVING' });
  const live = tsovHealth(socket, '--live');
  t.is(live.status, 0, `alive for the liveness probe, which a restart would not help: ${live.stdout}${live.stderr}`);
  t.is((await c.stat('before')).kind, 'ACTIVE', 'a read is answered from memory meanwhile');
  t.false(settled, 'the Prepare waits for its record to be durable');
  const waiting = (await oldestSync()) ?? 0;
  t.true(waiting >= 1, `tsov_snapshotter_oldest_sync_wait_seconds ${waiting}`);

  stalling.resume();
  await during;
  t.is((await c.stat('during')).kind, 'ACTIVE');
  await waitFor('the health check to answer SERVING again', () => tsovHealth(socket).status === 0, 15_000);
  t.is(await oldestSync(), 0, 'no sync runs once the disk answers');
  await waitFor('the end of the stall to be logged', () => /the disk made the snapshot metadata .* durable after [0-9.]+ s/.test(snapshotter.stderr()), 5_000);
});

test('a stalled disk under tsov-helper: a Mount waits for its journal, while the helper answers its health check (NOT_SERVING, with the reason) and List; the Mount is made once the disk answers', async (t) => {
  const { dir, stalling, policy, layout, lower, upper, work, target } = await helperStallSetup(t);
  const metrics = path.join(dir, 'helper-metrics.sock');
  const helper = await startHelper(t, layout, 'info', ['--config', policy, '--metrics-address', `unix:${metrics}`]);
  const oldestSync = async () => sample(await scrape(metrics), 'tsov_helper_oldest_sync_wait_seconds');
  t.teardown(() => stalling.resume());
  const helperHealth = health('helper');
  t.is(helperHealth(layout.socket).status, 0);
  t.is(await oldestSync(), 0, 'no sync runs');

  stalling.hang();
  let settled = false;
  const mounting = helper.client.mount({ owner: 'stalled', lowers: [lower!], upper, work, target: target!, backend: 'kernel', choices: {} }).finally(() => (settled = true));
  await waitFor('the stall to be logged', () => helper.stderr().includes('has not made the mount journal'), 15_000);
  const warning = JSON.parse(helper.stderr().split('\n').find((line) => line.includes('has not made'))!) as Record<string, unknown>;
  t.regex(String(warning.message), /^the disk has not made the mount journal \(fdatasync of .*journal\.db-wal\) durable for [0-9.]+ s: calls that mount or unmount \(Mount, Unmount, Release\) wait for it/);
  // Before, the journal's fsync ran on the event loop: the helper answered nothing (NO_ANSWER), and a
  // liveness probe restarted a helper that a restart cannot mend.
  const stalled = helperHealth(layout.socket);
  t.is(stalled.status, 1, stalled.stdout + stalled.stderr);
  t.regex(stalled.stderr, /: NOT_SERVING: it answers but does not serve calls \(a write has waited [0-9.]+ s for the disk to make it durable \(the mount journal's fdatasync\): calls that mount or unmount \(Mount, Unmount, Release\) wait with it; check the disk or volume/);
  t.deepEqual(goHealthCheck(layout.socket, ''), { status: 'NOT_SERVING' });
  // For machines: the same reason as its own field.
  const json = JSON.parse(helperHealth(layout.socket, '--json').stdout) as Record<string, unknown>;
  t.like(json, { daemon: 'tsov-helper', state: 'NOT_SERVING' });
  t.regex(String(json.reason), /^a write has waited [0-9.]+ s for the disk to make it durable \(the mount journal's fdatasync\)/);
  const live = helperHealth(layout.socket, '--live');
  t.is(live.status, 0, live.stdout + live.stderr);
  // List is answered meanwhile: the Mount's entry is written, waiting to be durable, and nothing is mounted yet.
  t.deepEqual((await helper.client.list()).map((m) => [m.owner, m.state]), [['stalled', 'mounting']]);
  t.false(settled, 'the Mount waits for its journal entry to be durable');
  const waiting = (await oldestSync()) ?? 0;
  t.true(waiting >= 1, `tsov_helper_oldest_sync_wait_seconds ${waiting}`);

  stalling.resume();
  const mount = await mounting;
  t.teardown(() => spawnSync('umount', ['-l', target!]));
  t.deepEqual(fs.readdirSync(target!), ['from-the-layer']);
  await waitFor('the health check to answer SERVING again', () => helperHealth(layout.socket).status === 0, 15_000);
  await waitFor('the end of the stall to be logged', () => /the disk made the mount journal .* durable after [0-9.]+ s/.test(helper.stderr()), 5_000);
  t.is(await oldestSync(), 0, 'no sync runs once the disk answers');
  await helper.client.unmount(mount.id, 'stalled');
  t.deepEqual(await helper.client.list(), []);
});

test('a stalled disk under tsov-helper, a Mount whose caller gave up, then SIGTERM: the helper stops once that Mount is made and journaled, and started again lists it', async (t) => {
  const { stalling, policy, layout, lower, upper, work, target } = await helperStallSetup(t);
  const helper = await startHelper(t, layout, 'info', ['--config', policy]);
  t.teardown(() => stalling.resume());
  t.teardown(() => spawnSync('umount', ['-l', target!]));

  stalling.hang();
  // A caller with a 1-s limit: when it passes, the client resets the call's stream (CANCEL) and gives up.
  const impatient = new HelperClient(layout.socket, { timeoutSeconds: 1 });
  const gaveUp = await impatient.mount({ owner: 'gave-up', lowers: [lower!], upper, work, target: target!, backend: 'kernel', choices: {} }).catch((error: unknown) => error);
  impatient.close();
  t.true(gaveUp instanceof DeadlineExceededError, String(gaveUp));
  t.deepEqual((await helper.client.list()).map((m) => [m.owner, m.state]), [['gave-up', 'mounting']], 'its entry waits for the disk');

  let exited = false;
  const stopping = helper.stop('SIGTERM').then((code) => ((exited = true), code));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.false(exited, 'the helper waits for the Mount no caller waits for');
  stalling.resume();
  t.is(await stopping, 0, helper.stderr());
  t.deepEqual(fs.readdirSync(target!), ['from-the-layer'], 'the Mount was made');
  const lines = helper.stderr().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: string; message: string });
  t.deepEqual(lines.filter((line) => line.level === 'error'), [], 'nothing failed');
  t.true(lines.findIndex((line) => line.message === 'stopped') > lines.findIndex((line) => /durable after/.test(line.message)), `it stopped after the journal was durable: ${helper.stderr()}`);

  // The journal has the mount: the next start lists it, and it can be released.
  const again = await startHelper(t, layout, 'info', ['--config', policy]);
  const listed = await again.client.list();
  t.deepEqual(listed.map((m) => [m.owner, m.state]), [['gave-up', 'mounted']]);
  await again.client.unmount(listed[0]!.id, 'gave-up');
  t.deepEqual(fs.readdirSync(target!), [], 'unmounted');
});
