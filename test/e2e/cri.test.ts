/**
 * Kubernetes' CRI end to end, the way kubelet drives containerd: a CRI client
 * (test/support/cri-client.ts) against containerd's own CRI plugin, configured
 * with the repository's deploy/ files (only paths and sockets substituted), on
 * containerd 1.6, 1.7 and 2.1. Pods use host networking (no CNI here); their
 * images, a pause-like one built from busybox-static under the release's
 * default sandbox image name and an application image, are imported into
 * namespace k8s.io with `ctr images import --snapshotter tsov`.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { buildImageArchive } from '../../harness/oci-image';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { containerdRelease, type ContainerdVersion } from '../../harness/containerd-versions';
import { wrappedRuntime, type OciRuntime } from '../../harness/oci-runtimes';
import { waitFor } from '../../harness/wait';
import { mountsUnder } from '../../harness/mounts';
import { startTestContainerd } from '../support/containerd';
import { CriClient, type PodSandboxConfig, type UserNamespace } from '../support/cri-client';
import { canLowerOomScore, privateDeployConfig, readDeployFile } from '../support/deploy-config';
import { helperLayout, runtimePolicy, startHelper } from '../support/helper-process';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { imageFsPath, linkImageFilesystem } from '../../cli/install/image-fs-link';

const APP_IMAGE = 'docker.io/tsov/cri-app:1';
const MiB = 1024 * 1024;

/**
 * Pod networking for pods that cannot use the node's (a user-namespaced pod:
 * containerd pins its user namespace through the pod's network namespace):
 * CNI's ptp plugin (Debian's containernetworking-plugins) gives each pod a
 * veth and an address from 198.18.42.0/24 (a benchmarking range), without
 * masquerading; CNI's DEL at StopPodSandbox takes the veth away again. Its
 * address bookkeeping stays in the test's directory.
 */
function podNetworkConfig(dir: string): string {
  const confDir = path.join(dir, 'cni');
  fs.mkdirSync(confDir, { recursive: true });
  const network = {
    cniVersion: '1.0.0',
    name: 'tsov-test',
    plugins: [{ type: 'ptp', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.42.0/24' }]], dataDir: path.join(dir, 'cni-ipam') } }],
  };
  fs.writeFileSync(path.join(confDir, '10-tsov-test.conflist'), JSON.stringify(network));
  return `\n[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = ["/usr/lib/cni"]\n  conf_dir = "${confDir}"\n`;
}

async function setUp(t: ExecutionContext, version: ContainerdVersion, deployFile: string, options: { podNetwork?: boolean; runtime?: OciRuntime } = {}) {
  const release = containerdRelease(version);
  const dir = makeTempDir(t, 'cri');
  // A user-namespaced pod's runtime (host uid 200000 and up) walks to its bundle through here.
  fs.chmodSync(dir, 0o711);
  const snapshotterRoot = path.join(dir, 'tsov');
  const snapshotterSocket = path.join(dir, 'tsov.sock');
  // The snapshotter asks the helper whether idmapped layers work on its root (remap-ids, in the 2.x deploy files).
  const layout = helperLayout(path.join(dir, 'helper'));
  fs.mkdirSync(snapshotterRoot, { recursive: true });
  layout.roots.push(snapshotterRoot);
  await startHelper(t, layout);
  const snapshotterPolicy = path.join(dir, 'snapshotter-policy.yaml');
  fs.writeFileSync(snapshotterPolicy, `helper:\n  socket: ${layout.socket}\n`);
  const snapshotter = await startSnapshotter(t, snapshotterRoot, snapshotterSocket, ['--config', snapshotterPolicy]);
  // The OCI runtime tsov-runtime (the tsov handler) runs: runc, or crun where a test needs what runc 1.1 lacks.
  const runtime = options.runtime ?? 'runc';
  const runc = wrappedRuntime(runtime, release, path.join(dir, 'oci'));
  const policyFile = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policyFile, runtimePolicy(layout, { kind: runtime, binary: runc.binary }).text);
  const containerdDir = path.join(dir, 'containerd');
  const configText = privateDeployConfig(readDeployFile(deployFile), containerdDir, {
    snapshotterSocket,
    snapshotterRoot,
    runtimeBinary: RUNTIME_MAIN,
    runscConfig: path.join(dir, 'runsc.toml'),
  }, !canLowerOomScore()) + (options.podNetwork === true ? podNetworkConfig(dir) : '');
  // containerd 1.6 reports <root>/io.containerd.snapshotter.v1.tsov as the image filesystem; tsov install links it (cli/install/image-fs-link.ts).
  if (version === '1.6') linkImageFilesystem(imageFsPath(path.join(containerdDir, 'root')), snapshotterRoot);
  const containerd = await startTestContainerd(t, containerdDir, snapshotterSocket, {
    version,
    configText,
    namespace: 'k8s.io',
    env: { TSOV_CONFIG: policyFile, TSOV_RUNTIME_CACHE: path.join(dir, 'runtime-cache') },
  });
  t.teardown(() => {
    if (!t.passed && fs.existsSync(containerd.logFile)) t.log(`containerd's log, last lines:\n${fs.readFileSync(containerd.logFile, 'utf8').split('\n').slice(-40).join('\n')}`);
  });
  const images = path.join(dir, 'images');
  const pause = buildImageArchive(path.join(images, 'pause'), release.pauseImage, [], ['/bin/sleep', 'infinity']);
  const app = buildImageArchive(path.join(images, 'app'), APP_IMAGE, [[{ file: '/etc/app', content: 'tsov cri app\n' }]]);
  for (const snapshotter of ['tsov', 'overlayfs']) {
    for (const archive of [pause, app]) await containerd.ctr(['images', 'import', '--snapshotter', snapshotter, archive]);
  }
  const cri = new CriClient(containerd.address);
  t.teardown(async () => {
    // Pass or fail, pods are stopped before containerd: StopPodSandbox is when CNI takes a pod's veth and network namespace away.
    for (const pod of await cri.listPodSandboxes().catch(() => [])) {
      await cri.stopPodSandbox(pod.id).catch(() => undefined);
      await cri.removePodSandbox(pod.id).catch(() => undefined);
    }
    cri.close();
  });
  await waitFor('the CRI plugin to answer', async () => (await cri.version().catch(() => undefined)) !== undefined, 30_000, 200);
  return { dir, release, snapshotter, snapshotterRoot, containerd, cri, runc };
}

type Fixture = Awaited<ReturnType<typeof setUp>>;

/** As kubelet builds it for a hostNetwork pod (no hostname: the pod shares the node's UTS namespace). */
function sandboxConfig(dir: string, name: string, userns?: UserNamespace): PodSandboxConfig {
  // A user-namespaced pod gets its own network namespace (pod networking): see podNetworkConfig.
  const uid = `${name}-uid`;
  const logDirectory = path.join(dir, 'pods', uid);
  fs.mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'default', attempt: 0 },
    log_directory: logDirectory,
    linux: { security_context: { namespace_options: userns === undefined ? { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } : { network: 'POD', pid: 'CONTAINER', ipc: 'POD', userns_options: userns } } },
  };
}

interface Pod {
  sandboxId: string;
  containerId: string;
  logFile: string;
}

/** RunPodSandbox, CreateContainer and StartContainer as kubelet calls them; resolves once the container has logged its line. */
async function startPod(f: Fixture, name: string, handler: string): Promise<Pod> {
  const config = sandboxConfig(f.dir, name);
  const sandboxId = await f.cri.runPodSandbox(config, handler);
  const containerId = await f.cri.createContainer(sandboxId, {
    metadata: { name: 'app', attempt: 0 },
    image: { image: APP_IMAGE },
    command: ['/bin/sh', '-c', `cat /etc/app; echo "pod ${name} up"; head -c ${MiB} /dev/zero > /written; exec sleep 300`],
    log_path: 'app/0.log',
  }, config);
  await f.cri.startContainer(containerId);
  const logFile = path.join(config.log_directory, 'app', '0.log');
  await waitFor(`${name}'s container to log through the CRI log path`, () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes(`pod ${name} up`), 30_000, 100);
  return { sandboxId, containerId, logFile };
}

/** StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox. */
async function removePod(f: Fixture, pod: Pod): Promise<void> {
  await f.cri.stopContainer(pod.containerId, 0);
  await f.cri.removeContainer(pod.containerId);
  await f.cri.stopPodSandbox(pod.sandboxId);
  await f.cri.removePodSandbox(pod.sandboxId);
}

/**
 * Removes the pod and waits (at most 5 s) until containerd's garbage collector,
 * which RemovePodSandbox's deletions trigger, removed the pod's sandbox and
 * container snapshots from tsov. One pod at a time: a snapshot that outlived
 * that collection would stay until some later deletion triggers another one.
 *
 * containerd itself can drop a deletion: its scheduler ignores every deletion
 * event older than the end of the collection that was running
 * (plugins/gc/scheduler.go run: `last := time.Now()` after GarbageCollect,
 * `lastCollection.After(e.ts)`), and metadata garbageCollect
 * (core/metadata/snapshot.go) makes Removes wait on its lock through the
 * backend walk and prune and calls Cleanup after unlocking, so a Remove that
 * commits while the snapshotter's Cleanup is still answering is never
 * collected by that run. tsov keeps its part of that window small (Cleanup
 * waits for nothing: snapshotter-rpc.test.ts). If it still happens, the test
 * checks it is that race — containerd's metadata no longer has the snapshot,
 * only its collection is owed — triggers a collection with another deletion,
 * and requires tsov to be told then (a trigger's own deletion can be dropped
 * the same way: up to three triggers, and none may be left in tsov either).
 */
async function removePodAndItsSnapshots(t: ExecutionContext, f: Fixture, pod: Pod): Promise<void> {
  await removePod(f, pod);
  const removedAt = Date.now();
  const gone = async () => {
    const active = await activeInTsov(f);
    return !active.includes(pod.sandboxId) && !active.includes(pod.containerId);
  };
  try {
    await waitFor('containerd to remove the pod\'s snapshots from tsov', gone, 5_000, 50);
    t.log(`pod ${pod.sandboxId.slice(0, 12)}: its snapshots left tsov ${Date.now() - removedAt} ms after RemovePodSandbox returned`);
    return;
  } catch {
    // Below: is it containerd's dropped deletion?
  }
  const known = await f.containerd.ctr(['-n', 'k8s.io', 'snapshots', '--snapshotter', 'tsov', 'ls']);
  t.false(known.includes(pod.sandboxId) || known.includes(pod.containerId), 'containerd\'s own metadata still has the pod\'s snapshot: not the collector\'s race');
  // The trigger's own deletion can meet the same race (a collection already running when it
  // commits): then another trigger's collection removes it, as it removes the pod's snapshots.
  const triggers: string[] = [];
  const allGone = async () => (await gone()) && !(await activeInTsov(f)).some((key) => triggers.includes(key));
  for (let attempt = 1; ; attempt++) {
    const trigger = `gc-trigger-${pod.sandboxId.slice(0, 12)}-${attempt}`;
    triggers.push(trigger);
    await f.containerd.ctr(['-n', 'k8s.io', 'snapshots', '--snapshotter', 'tsov', 'prepare', trigger]);
    await f.containerd.ctr(['-n', 'k8s.io', 'snapshots', '--snapshotter', 'tsov', 'rm', trigger]);
    try {
      await waitFor('the next collection to remove the pod\'s snapshots and the trigger from tsov', allGone, 5_000, 50);
      break;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
  t.log(`pod ${pod.sandboxId.slice(0, 12)}: containerd's collector dropped its deletion (already gone from containerd's metadata); ${triggers.length} more deletion${triggers.length === 1 ? '' : 's'} removed it from tsov`);
}

/** The keys of tsov's active snapshots as containerd names them (the backend name is NAMESPACE/N/KEY). */
async function activeInTsov(f: Fixture): Promise<string[]> {
  return (await f.snapshotter.client.list(['kind==active'])).map((info) => info.name.split('/').slice(2).join('/'));
}

/** CRI log lines are `TIMESTAMP STREAM P|F TEXT`. */
function logLines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' ').slice(3).join(' '));
}

async function podsOnTsov(t: ExecutionContext, version: ContainerdVersion, deployFile: string) {
  const f = await setUp(t, version, deployFile);
  const plain = await startPod(f, 'plain', '');
  const wrapped = await startPod(f, 'wrapped', 'tsov');

  t.deepEqual(logLines(plain.logFile), ['tsov cri app', 'pod plain up']);
  t.deepEqual(logLines(wrapped.logFile), ['tsov cri app', 'pod wrapped up']);
  const active = await activeInTsov(f);
  for (const id of [plain.sandboxId, plain.containerId, wrapped.sandboxId, wrapped.containerId]) t.true(active.includes(id), `${id} has its rootfs in tsov: ${active.join(', ')}`);
  t.true(f.runc.calls().some((line) => /\bcreate\b/.test(line) && line.endsWith(wrapped.containerId)), 'the tsov handler ran the container through tsov-runtime, which ran runc');
  t.false(f.runc.calls().some((line) => line.endsWith(plain.containerId)), 'the default handler did not');
  if (version === '2.1') t.true(f.runc.calls().includes('features'), `containerd 2.x ran \`features\` of the tsov handler through tsov-runtime, which passed it to runc: ${f.runc.calls().slice(0, 3).join(' | ')}`);

  // ContainerStats' writable layer is tsov's Usage of the active snapshot (CRI refreshes it every stats_collect_period, 10 s).
  let used = 0;
  await waitFor('ContainerStats to report the 1 MiB written', async () => {
    const stats = await f.cri.containerStats(plain.containerId);
    used = stats.writable_layer?.used_bytes?.value ?? 0;
    return used >= MiB;
  }, 40_000, 500);
  t.true(used >= MiB && used < 2 * MiB, `writable layer ${used} bytes`);

  const fsInfo = await f.cri.imageFsInfo();
  const imageFs = fsInfo.image_filesystems[0]!;
  if (version === '1.6') {
    // 1.6 ignores [proxy_plugins.tsov.exports] root: it names the directory a built-in snapshotter would have, which tsov install links to tsov's root.
    t.is(imageFs.fs_id?.mountpoint, path.join(f.containerd.dir, 'root', 'io.containerd.snapshotter.v1.tsov'));
  } else {
    t.is(imageFs.fs_id?.mountpoint, f.snapshotterRoot, 'ImageFsInfo names tsov\'s root ([proxy_plugins.tsov.exports] root)');
  }
  // kubelet stats the mountpoint (following links) to find the image filesystem's device.
  t.is(fs.realpathSync(imageFs.fs_id!.mountpoint), fs.realpathSync(f.snapshotterRoot), 'the mountpoint leads to tsov\'s root');
  t.true((imageFs.used_bytes?.value ?? 0) > 0, 'the image filesystem\'s usage is measured (the sum of tsov\'s Usage of the image layers)');

  for (const pod of [plain, wrapped]) await removePodAndItsSnapshots(t, f, pod);
  t.deepEqual(await activeInTsov(f), [], 'no active snapshot is left in tsov');
  t.deepEqual(await f.cri.listPodSandboxes(), []);
  t.deepEqual(mountsUnder(f.dir).filter((m) => m.includes('/rootfs')), [], 'no container rootfs is still mounted');
}

async function onlyTheTsovHandler(t: ExecutionContext, version: ContainerdVersion, deployFile: string) {
  const f = await setUp(t, version, deployFile);
  const plain = await startPod(f, 'plain', '');
  const wrapped = await startPod(f, 'wrapped', 'tsov');
  const active = await activeInTsov(f);
  t.true(active.includes(wrapped.sandboxId) && active.includes(wrapped.containerId), `the tsov handler's pod is on tsov: ${active.join(', ')}`);
  t.false(active.includes(plain.sandboxId) || active.includes(plain.containerId), 'the default handler\'s pod stays on overlayfs');
  const overlayfs = await f.containerd.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls']);
  t.true(overlayfs.includes(plain.containerId), 'containerd\'s overlayfs holds the default pod\'s rootfs');
  t.true(f.runc.calls().some((line) => /\bcreate\b/.test(line) && line.endsWith(wrapped.containerId)), 'the tsov handler ran its container through tsov-runtime');
  for (const pod of [wrapped, plain]) await removePodAndItsSnapshots(t, f, pod);
  t.deepEqual(await activeInTsov(f), []);
}

/**
 * A pod with its own user namespace (kubelet's hostUsers: false: mode POD and
 * the pod's id range, in the sandbox's and the container's namespace options).
 * containerd 2.1's CRI labels its snapshots with the range
 * (helpers_linux.go snapshotterRemapOpts); with remap-ids in the deploy file,
 * tsov serves them from the image's own layers, idmapped.
 */
async function userNamespacePod(t: ExecutionContext, version: ContainerdVersion, deployFile: string) {
  // containerd 2.1 runs a user-namespaced container only on a runtime whose `features` list idmap mounts: crun 1.21
  // (Debian 12's runc 1.1 does not), through the tsov handler, so tsov-runtime passes features and create on to it.
  const f = await setUp(t, version, deployFile, { podNetwork: true, runtime: 'crun' });
  const committed = async () => (await f.snapshotter.client.list(['kind==committed'])).length;
  const layers = await committed();
  const range = { host_id: 200000, container_id: 0, length: 65536 };
  const userns: UserNamespace = { mode: 'POD', uids: [range], gids: [range] };
  const config = sandboxConfig(f.dir, 'userns', userns);
  const sandboxId = await f.cri.runPodSandbox(config, 'tsov');
  const containerId = await f.cri.createContainer(sandboxId, {
    metadata: { name: 'app', attempt: 0 },
    image: { image: APP_IMAGE },
    command: ['/bin/sh', '-c', 'cat /proc/self/uid_map; stat -c "%u:%g" / /etc/app; echo pod > /written; stat -c "%u:%g" /written; echo "pod userns up"; exec sleep 300'],
    log_path: 'app/0.log',
    linux: { security_context: { namespace_options: config.linux.security_context.namespace_options } },
  }, config);
  await f.cri.startContainer(containerId);
  const logFile = path.join(config.log_directory, 'app', '0.log');
  await waitFor('the user-namespaced container to log', () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('pod userns up'), 30_000, 100);
  t.deepEqual(logLines(logFile).map((line) => line.trim().replace(/\s+/g, ' ')), ['0 200000 65536', '0:0', '0:0', '0:0', 'pod userns up'], 'root in the pod\'s namespace, and the image is root\'s');
  t.true(f.runc.calls().some((line) => /\bcreate\b/.test(line) && line.endsWith(containerId)), 'tsov-runtime ran crun for the container');

  t.is(await committed(), layers, 'no chowned copy of the image was made for the pod');
  const { options, upper } = await f.snapshotter.client.containerOverlay(containerId);
  t.true(options.includes('uidmap=0:200000:65536') && options.includes('gidmap=0:200000:65536'), options.join(','));
  const written = fs.statSync(path.join(upper, 'written'));
  t.deepEqual([written.uid, written.gid], [200000, 200000], 'the pod\'s write is in its upper with its host ids');

  await removePodAndItsSnapshots(t, f, { sandboxId, containerId, logFile });
  t.deepEqual(await activeInTsov(f), []);
}

const MAIN_FILES: ReadonlyArray<[ContainerdVersion, string]> = [['1.6', 'containerd-1.6-1.7.toml'], ['1.7', 'containerd-1.6-1.7.toml'], ['2.1', 'containerd-2.x.toml']];
const HANDLER_FILES: ReadonlyArray<[ContainerdVersion, string]> = [['1.7', 'containerd-1.7-tsov-handler.toml'], ['2.1', 'containerd-2.x-tsov-handler.toml']];

for (const [version, file] of MAIN_FILES) {
  test.serial(`containerd ${version} · CRI with deploy/${file}: pods on tsov (runc, and tsov-runtime as a handler), logs, ContainerStats, ImageFsInfo, nothing left after removal`, (t) => podsOnTsov(t, version, file));
}
test.serial('containerd 2.1 · CRI with deploy/containerd-2.x.toml: a pod with its own user namespace (mode POD) runs on tsov from the shared image layers, idmapped', (t) => userNamespacePod(t, '2.1', 'containerd-2.x.toml'));
for (const [version, file] of HANDLER_FILES) {
  test.serial(`containerd ${version} · CRI with deploy/${file}: only the tsov handler's pods use tsov, the default stays on overlayfs`, (t) => onlyTheTsovHandler(t, version, file));
}
