/**
 * The disk under a running tsov-snapshotter stops answering, as a network
 * volume or a failing device does: writes still land in the page cache and
 * every fsync waits. Here the snapshotter root is an ext4 on a loop device
 * whose backing file lives on a fuse-overlayfs mount, and the fuse-overlayfs
 * process is stopped (SIGSTOP): the loop device's I/O waits for it, so does
 * every fdatasync above. Write calls wait; reads are answered from memory;
 * the snapshotter logs which sync waits, and gRPC's health check answers
 * NOT_SERVING until the disk answers again (snapshotter/disk-stall.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { waitFor } from '../../harness/wait';
import { readMountInfo } from '../../common/mountinfo';
import { goHealthCheck } from '../support/go-harness';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { sample, scrape } from '../support/metrics-scrape';

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

/** An ext4 at dir/root whose I/O stops while hang() is in force; cleaned up in the test's teardown. */
async function disk(t: ExecutionContext, dir: string) {
  for (const sub of ['lower', 'upper', 'work', 'backing', 'root']) fs.mkdirSync(path.join(dir, sub));
  const backing = path.join(dir, 'backing');
  const fuse: ChildProcess = spawn('fuse-overlayfs', ['-f', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, backing], { stdio: 'ignore' });
  let loop: string | undefined;
  // Runs after the snapshotter is gone (registered before it starts): the loop device is not left attached.
  t.teardown(() => {
    if (fuse.pid !== undefined) process.kill(fuse.pid, 'SIGCONT');
    spawnSync('umount', [path.join(dir, 'root')]);
    if (loop !== undefined) spawnSync('losetup', ['-d', loop]);
    spawnSync('fusermount', ['-u', backing]);
    fuse.kill();
  });
  await waitFor('fuse-overlayfs to mount', () => readMountInfo().some((m) => m.mountPoint === backing && m.fsType.startsWith('fuse')));
  const image = path.join(backing, 'disk.img');
  run('truncate', ['-s', '128M', image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  loop = run('losetup', ['--find', '--show', image]);
  run('mount', [loop, path.join(dir, 'root')]);
  return {
    root: path.join(dir, 'root'),
    hang: () => process.kill(fuse.pid!, 'SIGSTOP'),
    resume: () => process.kill(fuse.pid!, 'SIGCONT'),
  };
}

const tsovHealth = (socket: string, ...more: string[]) => spawnSync(process.execPath, [CLI_MAIN, 'health', 'snapshotter', '--socket', socket, '--timeout', '5', ...more], { encoding: 'utf8', timeout: 30_000 });

test('a stalled disk: write calls wait, reads are answered, the log says what waits, and the health check is NOT_SERVING until the disk answers', async (t) => {
  const dir = makeTempDir(t, 'disk-stall');
  const stalling = await disk(t, dir);
  const policy = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policy, 'snapshotter:\n  disk_stall_seconds: 1\n');
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
