/**
 * End to end with real containerd releases (1.6, 1.7, 2.1) and real runc and
 * crun: images built from busybox-static are imported into tsov and run with
 * `ctr run --snapshotter tsov`, once per release and runtime.
 */
import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { startTestContainerd } from '../support/containerd';
import { CONTAINERD_VERSIONS, containerdRelease, type ContainerdVersion } from '../../harness/containerd-versions';
import { OCI_RUNTIMES, wrappedRuntime, type OciRuntime } from '../../harness/oci-runtimes';
import { buildImageArchive, type LayerEntry } from '../../harness/oci-image';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { waitFor } from '../../harness/wait';

/** Seven layers over the busybox base: eight in all, with whiteouts and an opaque directory. */
const EIGHT_LAYERS: LayerEntry[][] = [
  [
    { file: '/data/a.txt', content: 'a v1\n' },
    { file: '/data/b.txt', content: 'b\n' },
    { file: '/data/keep/x', content: 'x\n' },
    { file: '/olddir/old1', content: 'old1\n' },
    { file: '/olddir/old2', content: 'old2\n' },
  ],
  [{ whiteout: '/data/b.txt' }],
  [{ opaque: '/olddir' }, { file: '/olddir/new1', content: 'new1\n' }],
  [{ file: '/data/c.txt', content: 'c\n' }, { file: '/data/a.txt', content: 'a v2\n' }],
  [{ whiteout: '/data/keep' }],
  [{ file: '/etc/layer7', content: 'seven\n' }],
  [{ file: '/etc/motd', content: 'tsov layer 8\n' }],
];

async function setUp(t: Parameters<typeof makeTempDir>[0], version: ContainerdVersion, runtime: OciRuntime) {
  const dir = makeTempDir(t, 'e2e');
  const tsovSocket = path.join(dir, 'tsov.sock');
  const snapshotter = await startSnapshotter(t, path.join(dir, 'tsov'), tsovSocket);
  const containerd = await startTestContainerd(t, path.join(dir, 'containerd'), tsovSocket, { version });
  const oci = wrappedRuntime(runtime, containerdRelease(version), path.join(dir, 'runtime'));
  const runOptions = ['--snapshotter', 'tsov', '--runc-binary', oci.binary];
  return { dir, snapshotter, containerd, runOptions, oci };
}

for (const version of CONTAINERD_VERSIONS) {
  for (const runtime of OCI_RUNTIMES) {
    const name = `containerd ${version} · ${runtime}`;
    test(`${name}: an 8-layer image with whiteouts and an opaque directory imports and runs through tsov`, (t) => eightLayers(t, version, runtime));
    test(`${name}: a 128-layer image runs through tsov`, (t) => deepImage(t, version, runtime));
  }
}

async function eightLayers(t: ExecutionContext, version: ContainerdVersion, runtime: OciRuntime) {
  const { dir, containerd, snapshotter, runOptions, oci } = await setUp(t, version, runtime);
  const image = 'docker.io/tsov/test:8layers';
  const archive = buildImageArchive(path.join(dir, 'image'), image, EIGHT_LAYERS);
  await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', archive]);

  const committed = await snapshotter.client.list(['kind==committed']);
  t.is(committed.length, 8, 'one committed snapshot per layer');

  const script = [
    'cat /data/a.txt /etc/motd /etc/layer7',
    'ls /data',
    'ls /olddir',
    'test -e /data/b.txt && echo b-present || echo b-absent',
    'test -e /data/keep && echo keep-present || echo keep-absent',
    'echo written > /written && cat /written',
    'mkdir /newdir && rm /data/c.txt && ls /data',
  ].join('; ');
  const output = await containerd.runCaptured('eight', image, ['/bin/sh', '-c', script], runOptions);
  t.is(
    output.replace(/\r/g, ''),
    ['a v2', 'tsov layer 8', 'seven', 'a.txt', 'c.txt', 'new1', 'b-absent', 'keep-absent', 'written', 'a.txt', ''].join('\n'),
  );
  t.true(oci.calls().some((line) => /\bcreate\b.*\beight$/.test(line)), `${runtime} created the container: ${oci.calls().join(' | ')}`);

  // --rm removed the container's snapshot (containerd's garbage collector tells tsov soon after); the layers remain.
  await waitFor('containerd to remove the container snapshot from tsov', async () => (await snapshotter.client.list(['kind==active'])).length === 0);
  t.is((await snapshotter.client.list(['kind==committed'])).length, 8);
  const ls = await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'ls']);
  // KEY PARENT KIND, as containerd names them (chain ids).
  const rows = ls.trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
  t.is(rows.length, 8, ls);
  t.true(rows.every((row) => row[row.length - 1] === 'Committed'), ls);
  const base = rows.find((row) => row.length === 2)![0]!;
  const top = rows.find((row) => !rows.some((other) => other.length === 3 && other[1] === row[0]))![0]!;

  await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'prepare', 'scratch', top]);
  const usage = await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'usage']);
  t.regex(usage, /^scratch\s+[\d.]+\s*\S*B\s+1\s*$/m, `usage lists the new active snapshot with one inode:\n${usage}`);
  const baseUsage = usage.split('\n').find((line) => line.startsWith(base))!;
  t.regex(baseUsage, /\d(\.\d+)?\s*(kB|KiB|MB|MiB)\s+\d{3,}/, 'the busybox layer has a measured size and hundreds of inodes');

  await t.throwsAsync(containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'rm', base]), { message: /remov/ });
  await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'rm', 'scratch']);
  t.notRegex(await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'ls']), /scratch/);
  await t.throwsAsync(snapshotter.client.stat('scratch'), { message: /NOT_FOUND|does not exist/ });
}

async function deepImage(t: ExecutionContext, version: ContainerdVersion, runtime: OciRuntime) {
  const { dir, containerd, runOptions, oci } = await setUp(t, version, runtime);
  const image = 'docker.io/tsov/test:128layers';
  const layers: LayerEntry[][] = Array.from({ length: 127 }, (_, i) => [
    { file: `/layers/${i + 1}`, content: `${i + 1}\n` },
    { file: '/top', content: `layer ${i + 1}\n` },
  ]);
  const archive = buildImageArchive(path.join(dir, 'image'), image, layers);
  await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', archive], { timeoutMs: 300_000 });
  const output = await containerd.runCaptured('deep', image, ['/bin/sh', '-c', 'cat /top; ls /layers | wc -l'], runOptions);
  t.deepEqual(output.replace(/\r/g, '').trim().split('\n').map((line) => line.trim()), ['layer 127', '127']);
  t.true(oci.calls().some((line) => /\bcreate\b.*\bdeep$/.test(line)), `${runtime} created the container: ${oci.calls().join(' | ')}`);
}
