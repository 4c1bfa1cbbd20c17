/**
 * A removed snapshot's directory and work/ made into a spare for a later
 * Prepare (snapshotter/reused-directories.ts), on a real snapshotter and real
 * overlay mounts: the new snapshot gets the old wrapper and work/ but a fresh
 * fs/, nothing the container left in or on the old upper, and the kernel
 * mounts the overlay with the reused work/.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSnapshotter } from '../support/snapshotter-process';
import { withClient } from '../support/daemon-fixture';
import { SnapshotsClient } from '../support/snapshots-client';
import { SNAPSHOTTER_MAIN, startDaemonCommand } from '../../harness/daemon-process';
import { makeTempDir } from '../support/temp-dir';
import { scrape, sample } from '../support/metrics-scrape';
import { snapshotDirectories } from '../support/snapshot-directories';
import { SPARE_DIRECTORIES } from '../../snapshotter/snapshot-service';
import { waitFor } from '../../harness/wait';
import type { MountSpec } from '../../common/overlay-mounts';

const option = (mount: MountSpec, name: string) => mount.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';

/** Mounts the overlay a Prepare answered at dir/<name>, runs fn in it, unmounts. */
function throughOverlay(dir: string, name: string, mount: MountSpec, fn: (merged: string) => void): void {
  const merged = path.join(dir, name);
  fs.mkdirSync(merged);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', mount.options.join(','), merged]);
  try {
    fn(merged);
  } finally {
    execFileSync('umount', [merged]);
  }
}

const xattrs = (file: string) => execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', file], { encoding: 'utf8' });

test('a removed container snapshot\'s directory and work/ serve a later Prepare, with a fresh, empty fs/; the old upper is deleted', async (t) => {
  const dir = makeTempDir(t, 'reuse');
  const root = path.join(dir, 'root');
  const metrics = path.join(dir, 'metrics.sock');
  const { client } = await startSnapshotter(t, root, path.join(dir, 'tsov.sock'), ['--metrics-address', `unix:${metrics}`]);
  const [layer] = await client.prepare('layer-active');
  fs.writeFileSync(path.join(layer!.source, 'from-the-layer'), 'lower\n');
  await client.commit('layer', 'layer-active');

  // A container: its overlay mounted by the kernel (which makes work/work), written to, unmounted;
  // then something sets an xattr and a mode on its upper, as a container's root could.
  const [victimMount] = await client.prepare('victim', 'layer');
  const victimUpper = option(victimMount!, 'upperdir');
  const victimDir = path.dirname(victimUpper);
  throughOverlay(dir, 'victim-merged', victimMount!, (merged) => fs.writeFileSync(path.join(merged, 'secret'), 'the victim\'s\n'));
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', victimUpper]);
  execFileSync('setfattr', ['-n', 'user.note', '-v', 'left', victimUpper]);
  fs.chmodSync(victimUpper, 0o777);
  t.deepEqual(fs.readdirSync(option(victimMount!, 'workdir')), ['work'], 'the kernel left its work/work');
  const inode = (file: string) => fs.statSync(file).ino;
  const victim = { dir: inode(victimDir), work: inode(option(victimMount!, 'workdir')), upper: inode(victimUpper) };
  await client.remove('victim');

  // Enough Prepares to use every spare made before the removal and the refill after it.
  let reused: { key: string; mount: MountSpec } | undefined;
  for (let i = 0; i < 2 * SPARE_DIRECTORIES && reused === undefined; i++) {
    const [mount] = await client.prepare(`after-${i}`, 'layer');
    if (inode(path.dirname(option(mount!, 'upperdir'))) === victim.dir) reused = { key: `after-${i}`, mount: mount! };
  }
  if (reused === undefined) return t.fail(`no Prepare of ${2 * SPARE_DIRECTORIES} got the removed snapshot's directory`);
  const upper = option(reused.mount, 'upperdir');
  t.not(path.dirname(upper), victimDir, 'under a new id');
  t.is(inode(option(reused.mount, 'workdir')), victim.work, 'work/ reused');
  t.not(inode(upper), victim.upper, 'fs/ made new');
  t.deepEqual(fs.readdirSync(upper), []);
  t.is(fs.statSync(upper).mode & 0o7777, 0o755);
  t.is(xattrs(upper), '', 'no xattr of the old upper');
  const count = sample(await scrape(metrics), 'tsov_snapshot_directories_reused_total') ?? 0;
  t.true(count >= 1, `tsov_snapshot_directories_reused_total is ${count}`);

  // The kernel takes the reused work/ (its old work/work included), and the container sees the layer, not the victim's files.
  throughOverlay(dir, 'reused-merged', reused.mount, (merged) => {
    t.deepEqual(fs.readdirSync(merged).sort(), ['from-the-layer']);
    fs.writeFileSync(path.join(merged, 'mine'), 'new\n');
  });
  t.deepEqual(fs.readdirSync(upper), ['mine']);

  // The old upper waited under the removed snapshot's name; once deleted, nothing is left but records and spares.
  await client.cleanup();
  await waitFor('the removed snapshot\'s old fs/ deleted', () => !fs.existsSync(victimDir), 10_000);
  t.deepEqual(snapshotDirectories(root).stray, []);
});

/**
 * ctr snapshots rm of a running container's snapshot: containerd removes it without unmounting.
 * The overlay is mounted in this test's mount namespace (the node's: PID 1's here); the
 * snapshotter runs in it too, or in a private one of its own, as a systemd unit with
 * ProtectSystem= or a DaemonSet's container with hostPID does, and must find it in PID 1's table.
 */
async function removedWhileMounted(t: ExecutionContext, namespace: 'shared' | 'private'): Promise<void> {
  const dir = makeTempDir(t, 'reuse-mounted');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const args = ['--root', root, '--address', socket, '--log-level', 'info'];
  const snapshotter =
    namespace === 'shared'
      ? await startSnapshotter(t, root, socket, ['--log-level', 'info'])
      : withClient(t, await startDaemonCommand('tsov-snapshotter', 'unshare', socket, ['--mount', '--propagation', 'private', SNAPSHOTTER_MAIN, ...args]), new SnapshotsClient(socket));
  const { client } = snapshotter;
  await client.prepare('layer-active');
  await client.commit('layer', 'layer-active');

  const [victimMount] = await client.prepare('victim', 'layer');
  const victimWork = option(victimMount!, 'workdir');
  const victimDir = path.dirname(victimWork);
  const merged = path.join(dir, 'victim-merged');
  fs.mkdirSync(merged);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', victimMount!.options.join(','), merged]);
  // What the running container wrote: in the upper, the removed snapshot's fs/.
  fs.writeFileSync(path.join(merged, 'written-by-the-container'), 'mine\n');
  const pid = snapshotter.process.pid!;
  const seesItself = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(` ${merged} `);
  t.is(seesItself, namespace === 'shared', `the snapshotter's own mount table ${namespace === 'shared' ? 'holds' : 'does not hold'} the overlay`);
  const inode = (file: string) => fs.statSync(file).ino;
  const victim = { dir: inode(victimDir), work: inode(victimWork) };
  await client.remove('victim');

  const takers: string[] = [];
  for (let i = 0; i < 2 * SPARE_DIRECTORIES; i++) {
    const [mount] = await client.prepare(`after-${i}`, 'layer');
    const work = option(mount!, 'workdir');
    if (inode(path.dirname(work)) === victim.dir || inode(work) === victim.work) takers.push(`after-${i}`);
  }
  t.deepEqual(takers, [], 'no Prepare shares the mounted overlay\'s work/');
  /** The daemon's log lines that contain text, parsed. */
  const logLines = (text: string) =>
    snapshotter
      .stderr()
      .split('\n')
      .filter((line) => line.includes(text))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  await waitFor('the warning that names the mount', () => snapshotter.stderr().includes('still mounted'), 10_000);
  const warning = logLines('still mounted');
  t.is(warning.length, 1);
  t.is(warning[0]!.level, 'warn');
  t.is(warning[0]!.directory, victimDir);
  t.is(warning[0]!.mount_point, merged);
  // The deletion was tried (that is what warned) and left it: the container's files are where it
  // wrote them, through the overlay and in the upper. containerd's overlayfs snapshotter deletes them.
  t.is(fs.readFileSync(path.join(merged, 'written-by-the-container'), 'utf8'), 'mine\n');
  t.is(fs.readFileSync(path.join(victimDir, 'fs', 'written-by-the-container'), 'utf8'), 'mine\n');
  await client.cleanup();
  t.true(fs.existsSync(path.join(victimDir, 'fs', 'written-by-the-container')), 'Cleanup leaves it while it is mounted');
  t.is(logLines('still mounted').length, 1, 'said once');
  // Unmounted, the next try (Cleanup here, or every 30 s) deletes it.
  execFileSync('umount', [merged]);
  await client.cleanup();
  await waitFor('the removed snapshot\'s directory to be deleted', () => !fs.existsSync(victimDir), 10_000);
  await waitFor('the line that says it is deleted', () => snapshotter.stderr().includes('nothing mounts it any more'), 10_000);
  t.deepEqual(
    logLines('nothing mounts it any more').map((line) => [line.level, line.directory]),
    [['info', victimDir]],
    'said once, naming the directory as the warning did',
  );
}

test('a snapshot removed while its overlay is still mounted: no later Prepare gets its directory or work/, its directory is kept with the container\'s files until it is unmounted, and the snapshotter says where it is mounted', removedWhileMounted, 'shared');
test('the same with the snapshotter in a mount namespace of its own that the mount does not reach: found in the node\'s (PID 1\'s) mount table', removedWhileMounted, 'private');
