/**
 * How tsov-snapshotter starts and stops: socket handling, refusals with a
 * clear message, SIGTERM finishing cleanly, and a restart keeping everything.
 */
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SNAPSHOTTER_MAIN } from '../support/paths';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { waitFor } from '../../harness/wait';

function runToExit(args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [SNAPSHOTTER_MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

test('creates the socket directory and removes a stale socket', async (t) => {
  const dir = makeTempDir(t, 'start');
  const socket = path.join(dir, 'run', 'deep', 'tsov.sock');
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  // A process that dies by SIGKILL while listening leaves its socket file behind.
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.true(fs.existsSync(socket));
  const snapshotter = await startSnapshotter(t, path.join(dir, 'root'), socket);
  await snapshotter.client.prepare('works');
  t.is((await snapshotter.client.stat('works')).name, 'works');
  t.is(await snapshotter.stop('SIGTERM'), 0);
  t.false(fs.existsSync(socket), 'socket removed at shutdown');
});

test('refuses to take over a socket another process serves', async (t) => {
  const dir = makeTempDir(t, 'start');
  const first = await startSnapshotter(t, path.join(dir, 'root1'), path.join(dir, 'tsov.sock'));
  const second = runToExit(['--root', path.join(dir, 'root2'), '--address', first.socket]);
  t.is(second.status, 1);
  t.regex(second.stderr, /another process is serving .*tsov\.sock; stop it first/);
  await first.client.prepare('still-serving');
});

test('refuses a root on overlayfs with the reason and the fix', (t) => {
  const dir = makeTempDir(t, 'start');
  for (const sub of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, sub));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, `${dir}/merged`]);
  t.teardown(() => spawnSync('umount', ['-l', `${dir}/merged`]));
  const result = runToExit(['--root', path.join(dir, 'merged', 'root'), '--address', path.join(dir, 'tsov.sock')]);
  t.is(result.status, 1);
  t.regex(result.stderr, /is on overlay, which cannot hold overlay upper directories; put --root on ext4/);
});

test('refuses a relative socket path and an unknown log level', (t) => {
  const dir = makeTempDir(t, 'start');
  const relative = runToExit(['--root', dir, '--address', 'tsov.sock']);
  t.is(relative.status, 1);
  t.regex(relative.stderr, /socket path "tsov.sock" must be absolute/);
  const level = runToExit(['--root', dir, '--address', path.join(dir, 's.sock'), '--log-level', 'loud']);
  t.is(level.status, 2, 'an argument error');
  t.regex(level.stderr, /^tsov-snapshotter: --log-level must be one of error, warn, info, debug; usage: tsov-snapshotter --root DIR/);
});

test('a restart keeps everything and ids continue without reuse', async (t) => {
  const dir = makeTempDir(t, 'restart');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  let snapshotter = await startSnapshotter(t, root, socket);
  let client = snapshotter.client;
  await client.prepare('l1-tmp', '', { a: '1' });
  await client.commit('l1', 'l1-tmp', { a: '1' });
  await client.prepare('l2-tmp', 'l1');
  await client.commit('l2', 'l2-tmp');
  await client.prepare('active', 'l2', { b: '2' });
  await client.view('view', 'l2');
  await client.prepare('doomed', 'l2');
  const highest = Number(path.basename(path.dirname((await client.mounts('doomed'))[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length))));
  await client.remove('doomed');

  const snapshotState = async () => ({
    list: (await client.list()).sort((a, b) => a.name.localeCompare(b.name)),
    stats: await Promise.all(['l1', 'l2', 'active', 'view'].map((k) => client.stat(k))),
    mounts: await Promise.all(['active', 'view'].map((k) => client.mounts(k))),
    usage: await client.usage('l1'),
  });
  const before = await snapshotState();

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    await snapshotter.stop(signal);
    snapshotter = await startSnapshotter(t, root, socket);
    client = snapshotter.client;
    t.deepEqual(await snapshotState(), before, `same answers after ${signal}`);
  }

  const [mount] = await client.prepare('after-restart', 'l2');
  const upper = mount!.options.find((o) => o.startsWith('upperdir='))!;
  const newId = Number(path.basename(path.dirname(upper.slice('upperdir='.length))));
  t.true(newId > highest, `new id ${newId} must be above removed id ${highest}`);
});

test('--config supplies root and address; a bad policy is refused before anything starts', async (t) => {
  const dir = makeTempDir(t, 'start');
  const config = path.join(dir, 'config.yaml');
  const socket = path.join(dir, 'from-config.sock');
  fs.writeFileSync(config, `log:\n  level: warn\nsnapshotter:\n  root: ${dir}/root-from-config\n  address: ${socket}\n`);
  const child = spawn(process.execPath, [SNAPSHOTTER_MAIN, '--config', config], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor('the socket named in the policy', () => fs.existsSync(socket));
  t.true(fs.existsSync(path.join(dir, 'root-from-config', 'metadata.db')));

  fs.writeFileSync(config, 'snapshotter:\n  rot: /x\n');
  const bad = runToExit(['--config', config]);
  t.is(bad.status, 1);
  t.regex(bad.stderr, /config\.yaml is not a valid tsov policy:\n {2}\S*config\.yaml:2:3: snapshotter\.rot: unknown key/);
});
