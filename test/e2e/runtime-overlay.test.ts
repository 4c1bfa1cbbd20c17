/**
 * gVisor issue #4768's scenario end to end with real containerd releases
 * (1.6, 1.7, 2.1) and real runc and crun (tsov-runtime wraps each in turn):
 * an OCI spec mount `type: overlay` with two host lowers and an upper, run
 * through `ctr run --runc-binary tsov-runtime --mount ...` (ctr splits the
 * options on ':', the form tsov must accept). Also memory mode (writes gone
 * after delete), fuse mode, and no mount left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { buildImageArchive } from '../../harness/oci-image';
import { mountsUnder } from '../../harness/mounts';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { startTestContainerd } from '../support/containerd';
import { CONTAINERD_VERSIONS, containerdRelease, type ContainerdVersion } from '../../harness/containerd-versions';
import { OCI_RUNTIMES, wrappedRuntime, type OciRuntime } from '../../harness/oci-runtimes';
import { helperLayout, makeDirs, runtimePolicy, startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';

const IMAGE = 'docker.io/tsov/runtime-test:1';

interface Case {
  version: ContainerdVersion;
  runtime: OciRuntime;
}

async function setUp(t: ExecutionContext, { version, runtime }: Case, extraPolicy = '') {
  const base = makeTempDir(t, 'e2e-runtime');
  const oci = wrappedRuntime(runtime, containerdRelease(version), path.join(base, 'oci'));
  const layout = helperLayout(base);
  const root = layout.roots[0]!;
  const policyFile = path.join(base, 'policy.yaml');
  const { text, stateDir } = runtimePolicy(layout, { kind: runtime, binary: oci.binary }, extraPolicy);
  fs.writeFileSync(policyFile, text);
  const helper = await startHelper(t, layout);
  const containerd = await startTestContainerd(t, path.join(base, 'containerd'), path.join(base, 'unused-tsov.sock'), {
    version,
    env: { TSOV_CONFIG: policyFile, TSOV_RUNTIME_CACHE: path.join(base, 'runtime-cache') },
  });
  await containerd.ctr(['images', 'import', buildImageArchive(path.join(base, 'image'), IMAGE, [])]);
  const run = async (id: string, mountOptions: string, script: string, destination = '/ov', runOptions: string[] = []) => {
    const output = await containerd.runCaptured(id, IMAGE, ['/bin/sh', '-c', script], ['--runc-binary', RUNTIME_MAIN, ...runOptions, '--mount', `type=overlay,src=overlay,dst=${destination},options=${mountOptions}`]);
    t.true(oci.calls().some((line) => new RegExp(`\\bcreate\\b.*\\b${id}$`).test(line)), `${runtime} created ${id}: ${oci.calls().join(' | ')}`);
    return output;
  };
  return { base, root, stateDir, helper, containerd, run };
}

const isWhiteout = (file: string) => {
  const stat = fs.lstatSync(file);
  return stat.isCharacterDevice() && stat.rdev === 0;
};

async function union(t: ExecutionContext, c: Case) {
  const { root, stateDir, helper, run } = await setUp(t, c);
  const [l1, l2, upper, work] = makeDirs(...['l1', 'l2', 'upper', 'work'].map((d) => path.join(root, 'ov', d)));
  fs.writeFileSync(path.join(l1!, 'from-l1'), 'l1\n');
  fs.writeFileSync(path.join(l2!, 'from-l2'), 'l2\n');
  fs.writeFileSync(path.join(l2!, 'doomed'), 'delete me\n');
  fs.writeFileSync(path.join(upper!, 'from-upper'), 'upper\n');

  const output = await run('ov4768', `lowerdir=${l1}:${l2}:upperdir=${upper}:workdir=${work}`, 'ls /ov; cat /ov/from-l1 /ov/from-l2; echo written > /ov/new; rm /ov/doomed; ls /ov');
  t.is(output.replace(/\r/g, ''), ['doomed', 'from-l1', 'from-l2', 'from-upper', 'l1', 'l2', 'from-l1', 'from-l2', 'from-upper', 'new', ''].join('\n'));

  t.is(fs.readFileSync(path.join(upper!, 'new'), 'utf8'), 'written\n', 'the file written in the container is in upperdir');
  t.true(isWhiteout(path.join(upper!, 'doomed')), 'the deleted lower file is a whiteout in upperdir');
  t.true(fs.existsSync(path.join(l2!, 'doomed')), 'the lower is untouched');
  t.deepEqual(mountsUnder(root), [], 'ctr run --rm (task delete) left no mount behind');
  t.deepEqual(await helper.client.list(), []);
  t.false(fs.existsSync(path.join(stateDir, 'ov4768')), 'the merged mount points are removed');
}

async function memory(t: ExecutionContext, c: Case) {
  const { root, helper, run } = await setUp(t, c, '  rules:\n    - destination: /scratch/**\n      mode: memory\n      scratch: true\n      memory_bytes: 16777216\n');
  const [lower, upper, work] = makeDirs(...['lower', 'upper', 'work'].map((d) => path.join(root, 'mem', d)));
  fs.writeFileSync(path.join(lower!, 'base'), 'base\n');
  const output = await run('mem1', `lowerdir=${lower}:upperdir=${upper}:workdir=${work}`, 'echo temp > /scratch/tmp/new; cat /scratch/tmp/base /scratch/tmp/new; df -k /scratch/tmp | tail -1', '/scratch/tmp');
  const lines = output.replace(/\r/g, '').split('\n');
  t.deepEqual(lines.slice(0, 2), ['base', 'temp']);
  t.regex(lines[2]!, /^tsov-m\d+\s+16384\s/, 'df sees the size of the 16 MiB tmpfs upper the helper made');
  t.deepEqual(fs.readdirSync(upper!), [], 'nothing reached the entry\'s upperdir (scratch)');
  t.deepEqual(fs.readdirSync(lower!), ['base']);
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), [], 'the tmpfs and its overlay are released at delete');
}

async function refusal(t: ExecutionContext, c: Case) {
  const { root, helper, run, containerd } = await setUp(t, c);
  const [lower, upper, work] = makeDirs(...['lower', 'upper', 'work'].map((d) => path.join(root, 'c', d)));
  const error = await t.throwsAsync(run('refused1', `lowerdir=${lower}:upperdir=${upper}:workdir=${work}:x-tsov.mode=memory`, 'true'));
  t.regex(error.message, /tsov-runtime: mount \d+ \(\/ov\): names upperdir .*, which promises that writes persist there/);
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
  await containerd.ctr(['containers', 'rm', 'refused1']).catch(() => undefined);
}

async function fuse(t: ExecutionContext, c: Case) {
  const { root, helper, run } = await setUp(t, c);
  const [l1, l2, upper, work] = makeDirs(...['l1', 'l2', 'upper', 'work'].map((d) => path.join(root, 'fuse', d)));
  fs.writeFileSync(path.join(l1!, 'a'), 'a\n');
  fs.writeFileSync(path.join(l2!, 'b'), 'b\n');
  const output = await run('fuse1', `lowerdir=${l1}:${l2}:upperdir=${upper}:workdir=${work}:x-tsov.mode=fuse`, 'cat /ov/a /ov/b; echo f > /ov/c; grep " /ov " /proc/mounts | cut -d" " -f3');
  t.is(output.replace(/\r/g, ''), 'a\nb\nfuse.fuse-overlayfs\n');
  t.is(fs.readFileSync(path.join(upper!, 'c'), 'utf8'), 'f\n');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
}

/** A user namespace with host ids from 100000, as `ctr run --uidmap/--gidmap` (2.x: --remap-labels, so the rootfs is idmapped too) gives it. */
const USERNS = ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'];
const remapLabels = (version: ContainerdVersion) => (version === '2.1' ? ['--remap-labels'] : []);

/** Host mode (the kernel overlay), or with fuse, fuse-overlayfs over idmapped binds of the lowers. */
const userNamespace = (mode: 'host' | 'fuse') => async (t: ExecutionContext, c: Case) => {
  const { base, root, helper, run } = await setUp(t, c);
  // The container's runtime (host uid 100000 in its namespace) reaches its bundle and binds through these.
  fs.chmodSync(base, 0o711);
  const [l1, l2, upper, work] = makeDirs(...['l1', 'l2', 'upper', 'work'].map((d) => path.join(root, 'userns', d)));
  fs.writeFileSync(path.join(l1!, 'from-l1'), 'l1\n');
  fs.mkdirSync(path.join(l2!, 'dir'));
  fs.writeFileSync(path.join(l2!, 'dir', 'from-l2'), 'l2\n');
  // As runc needs it for the same spec: the container's root owns the upper (runc mounts it read-only otherwise).
  fs.chownSync(upper!, 100000, 100000);
  const script = 'cat /proc/self/uid_map; stat -c "%u:%g" /ov /ov/from-l1 /ov/dir/from-l2; echo new > /ov/new; echo more >> /ov/from-l1; echo x > /ov/dir/added; cat /ov/from-l1; grep " /ov " /proc/mounts | cut -d" " -f3';
  const output = await run(`userns-${mode}`, `lowerdir=${l1}:${l2}:upperdir=${upper}:workdir=${work}:x-tsov.mode=${mode}`, script, '/ov', [...USERNS, ...remapLabels(c.version)]);
  const filesystem = mode === 'fuse' ? 'fuse.fuse-overlayfs' : 'overlay';
  t.deepEqual(output.replace(/\r/g, '').trim().split('\n').map((line) => line.trim().replace(/\s+/g, ' ')), ['0 100000 65536', '0:0', '0:0', '0:0', 'l1', 'more', filesystem]);
  const owner = (file: string) => { const s = fs.lstatSync(file); return `${s.uid}:${s.gid}`; };
  t.is(owner(path.join(upper!, 'new')), '100000:100000', 'a new file lands in upperdir with the mapped host ids, as runc gives it');
  t.is(owner(path.join(upper!, 'from-l1')), '100000:100000', 'a copied-up lower file belongs to the container\'s root on the host');
  t.is(owner(path.join(upper!, 'dir', 'added')), '100000:100000');
  t.is(fs.readFileSync(path.join(l1!, 'from-l1'), 'utf8'), 'l1\n', 'the lower is untouched');
  t.is(owner(path.join(l1!, 'from-l1')), '0:0');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
};

async function userNamespaceMemory(t: ExecutionContext, c: Case) {
  const { base, root, helper, run } = await setUp(t, c, '  rules:\n    - destination: /scratch/**\n      mode: memory\n      scratch: true\n      memory_bytes: 16777216\n');
  fs.chmodSync(base, 0o711);
  const [lower, upper, work] = makeDirs(...['lower', 'upper', 'work'].map((d) => path.join(root, 'mem', d)));
  fs.writeFileSync(path.join(lower!, 'base'), 'base\n');
  const output = await run('userns-mem', `lowerdir=${lower}:upperdir=${upper}:workdir=${work}`, 'stat -c "%u:%g" /scratch/tmp /scratch/tmp/base; echo temp > /scratch/tmp/new; echo b >> /scratch/tmp/base; cat /scratch/tmp/new', '/scratch/tmp', [...USERNS, ...remapLabels(c.version)]);
  t.deepEqual(output.replace(/\r/g, '').trim().split('\n'), ['0:0', '0:0', 'temp']);
  t.deepEqual(fs.readdirSync(upper!), [], 'nothing reached the entry\'s upperdir (scratch)');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
}

const SCENARIOS: ReadonlyArray<[string, (t: ExecutionContext, c: Case) => Promise<void>]> = [
  ['#4768: /ov is the union of two host lowers and the upper; writes and deletions persist in upperdir', union],
  ['memory mode (a policy rule marks /scratch scratch): writes are visible inside and gone after delete', memory],
  ['an upperdir entry in memory mode without a scratch rule is refused with the persistence contract, and nothing is mounted', refusal],
  ['fuse mode: the same entry through fuse-overlayfs; writes persist in upperdir', fuse],
];

/** User-namespaced containers (issue 17): on containerd 2.1, whose ctr idmaps the rootfs with --remap-labels. */
const USERNS_SCENARIOS: ReadonlyArray<[string, (t: ExecutionContext, c: Case) => Promise<void>]> = [
  ['a user-namespaced container sees the lowers as its root\'s (idmapped) and writes to upperdir with its host ids', userNamespace('host')],
  ['the same through fuse-overlayfs (fuse mode) over idmapped binds of the lowers', userNamespace('fuse')],
  ['a user-namespaced container in memory mode owns the tmpfs upper', userNamespaceMemory],
];

for (const version of CONTAINERD_VERSIONS) {
  for (const runtime of OCI_RUNTIMES) {
    for (const [title, scenario] of SCENARIOS) test(`containerd ${version} · tsov-runtime over ${runtime}: ${title}`, (t) => scenario(t, { version, runtime }));
    if (version === '2.1') for (const [title, scenario] of USERNS_SCENARIOS) test(`containerd ${version} · tsov-runtime over ${runtime}: ${title}`, (t) => scenario(t, { version, runtime }));
  }
}
