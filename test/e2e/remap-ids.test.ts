/**
 * User-namespaced containers on tsov with containerd 2.1 and runc, as a user
 * runs them: `ctr run --uidmap 0:H:65536 --gidmap 0:H:65536 --remap-labels`.
 * With capabilities = ["remap-ids"] in [proxy_plugins.tsov], containerd's
 * client leaves the image as it is (client/snapshotter_opts_unix.go
 * resolveSnapshotOptions) and tsov answers Mounts with uidmap=/gidmap=, which
 * containerd's shim turns into idmapped lowers (core/mount/mount_linux.go):
 * no copy of the image, whatever the id range. Without the capability
 * containerd copies and chowns the image, and tsov must see that copy and not
 * map its ids a second time.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startTestContainerd } from '../support/containerd';
import { containerdRelease } from '../../harness/containerd-versions';
import { wrappedRuntime } from '../../harness/oci-runtimes';
import { buildImageArchive } from '../../harness/oci-image';
import { startSnapshotter, type RunningSnapshotter } from '../support/snapshotter-process';
import { helperLayout, startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';
import type { PrivateContainerd } from '../../harness/containerd';

const IMAGE = 'docker.io/tsov/test:remap';
/** What the container reports: its uid map, its uid, the owners of its rootfs, then of a file it wrote. */
const SCRIPT = [
  'cat /proc/self/uid_map',
  'id -u',
  'stat -c "%u:%g" / /bin/busybox /etc/layer3',
  'echo written > /written',
  'stat -c "%u:%g" /written',
].join('; ');

interface Setup {
  dir: string;
  snapshotter: RunningSnapshotter;
  containerd: PrivateContainerd;
  runtime: string;
}

async function setUp(t: ExecutionContext, options: { capabilities: string[]; remapIds: 'auto' | 'off'; rootOnRamfs?: boolean }): Promise<Setup> {
  const dir = makeTempDir(t, 'remap');
  // A user-namespaced runc init (host uid 100000 and up) walks to its bundle's rootfs: the path must be searchable.
  fs.chmodSync(dir, 0o711);
  const layout = helperLayout(path.join(dir, 'helper'));
  await startHelper(t, layout);
  const root = path.join(layout.roots[0]!, 'tsov');
  if (options.rootOnRamfs === true) {
    // A filesystem that cannot be idmapped (no FS_ALLOW_IDMAP): tsov-helper's probe says so.
    fs.mkdirSync(root);
    t.is(spawnSync('mount', ['-t', 'ramfs', 'tsov-remap-test', root]).status, 0);
  }
  const policy = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policy, `snapshotter:\n  remap_ids: ${options.remapIds}\nhelper:\n  socket: ${layout.socket}\n`);
  const socket = path.join(dir, 'tsov.sock');
  const snapshotter = await startSnapshotter(t, root, socket, ['--config', policy, '--log-level', 'info']);
  const containerd = await startTestContainerd(t, path.join(dir, 'containerd'), socket, { version: '2.1', tsovCapabilities: options.capabilities });
  const archive = buildImageArchive(path.join(dir, 'image'), IMAGE, [[{ file: '/etc/layer2', content: '2\n' }], [{ file: '/etc/layer3', content: '3\n' }]]);
  await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', archive]);
  const runtime = wrappedRuntime('runc', containerdRelease('2.1'), path.join(dir, 'runtime')).binary;
  return { dir, snapshotter, containerd, runtime };
}

/**
 * Runs the script in a container with host ids from hostId on, remapped by
 * label; the container (and its snapshot) stays for the caller to look at.
 */
async function runRemapped(setup: Setup, id: string, hostId: number): Promise<string[]> {
  const output = path.join(setup.dir, 'output');
  fs.mkdirSync(output, { recursive: true, mode: 0o777 });
  fs.chmodSync(output, 0o777);
  const map = `0:${hostId}:65536`;
  await setup.containerd.ctr([
    'run', '--snapshotter', 'tsov', '--runc-binary', setup.runtime,
    '--uidmap', map, '--gidmap', map, '--remap-labels',
    '--mount', `type=bind,src=${output},dst=/out,options=rbind:rw`,
    IMAGE, id, '/bin/sh', '-c', `exec >/out/${id} 2>&1; ${SCRIPT}`,
  ]);
  return fs.readFileSync(path.join(output, id), 'utf8').trim().split('\n').map((line) => line.trim().replace(/\s+/g, ' '));
}

const expectedInside = (hostId: number) => [`0 ${hostId} 65536`, '0', '0:0', '0:0', '0:0', '0:0'];

test('containerd 2.1 with remap-ids: remapped containers share the image layers, see a root-owned rootfs, and write with their host ids', async (t) => {
  const setup = await setUp(t, { capabilities: ['remap-ids'], remapIds: 'auto' });
  const { snapshotter } = setup;
  t.is((await snapshotter.client.list([])).length, 3, 'the image: three committed layers');

  t.deepEqual(await runRemapped(setup, 'first', 100000), expectedInside(100000));
  const first = await snapshotter.client.containerOverlay('first');
  t.true(first.options.includes('uidmap=0:100000:65536') && first.options.includes('gidmap=0:100000:65536'), first.options.join(','));
  const written = fs.statSync(path.join(first.upper, 'written'));
  t.deepEqual([written.uid, written.gid], [100000, 100000], 'the write landed in the upper with the mapped host ids');
  t.deepEqual(fs.statSync(path.join(first.lowers[0]!, 'etc', 'layer3')).uid, 0, 'the image layer itself is untouched');

  t.deepEqual(await runRemapped(setup, 'second', 200000), expectedInside(200000));
  const second = await snapshotter.client.containerOverlay('second');
  t.deepEqual(second.lowers, first.lowers, 'both id ranges use the same layer directories');
  t.is(fs.statSync(path.join(second.upper, 'written')).uid, 200000);

  const snapshots = await snapshotter.client.list([]);
  t.deepEqual(snapshots.map((s) => s.kind).sort(), ['ACTIVE', 'ACTIVE', 'COMMITTED', 'COMMITTED', 'COMMITTED'], 'no chowned copy of the image: 3 layers + 2 containers');
  t.regex(snapshotter.stderr(), /remap-ids: user-namespaced containers get idmapped layers/);
});

test('containerd 2.1 without remap-ids: containerd\'s chowned copy is recognised and not mapped twice', async (t) => {
  const setup = await setUp(t, { capabilities: [], remapIds: 'off' });
  const { snapshotter } = setup;
  t.deepEqual(await runRemapped(setup, 'copied', 100000), expectedInside(100000));
  const copied = await snapshotter.client.containerOverlay('copied');
  t.false(copied.options.some((o) => o.startsWith('uidmap=') || o.startsWith('gidmap=')), copied.options.join(','));
  t.is(fs.statSync(path.join(copied.upper, 'written')).uid, 100000);
  const kinds = (await snapshotter.client.list([])).map((s) => s.kind).sort();
  t.deepEqual(kinds, ['ACTIVE', 'COMMITTED', 'COMMITTED', 'COMMITTED', 'COMMITTED'], 'containerd\'s fallback: a chowned copy of the image as a fourth committed snapshot');
  t.regex(snapshotter.stderr(), /remap-ids: off by policy/);
});

test('containerd 2.1 without remap-ids, tsov on a root that cannot be idmapped: the probe\'s reason is logged and containerd\'s chowned copy runs', async (t) => {
  const setup = await setUp(t, { capabilities: [], remapIds: 'auto', rootOnRamfs: true });
  const { snapshotter } = setup;
  t.deepEqual(await runRemapped(setup, 'ramfs', 100000), expectedInside(100000));
  const kinds = (await snapshotter.client.list([])).map((s) => s.kind).sort();
  t.deepEqual(kinds, ['ACTIVE', 'COMMITTED', 'COMMITTED', 'COMMITTED', 'COMMITTED'], 'the chowned copy as a fourth committed snapshot');
  t.regex(snapshotter.stderr(), /remap-ids: not available.*idmapped overlay lowers do not work on ramfs .*mount_setattr MOUNT_ATTR_IDMAP/);
});

test('containerd 2.1 asking for idmapped layers tsov cannot serve gets the reason and the fix', async (t) => {
  const setup = await setUp(t, { capabilities: ['remap-ids'], remapIds: 'off' });
  const error = await t.throwsAsync(runRemapped(setup, 'refused', 100000));
  t.regex(error.message, /idmapped layers.*snapshotter\.remap_ids is off in the policy.*remove "remap-ids"/s);
});
