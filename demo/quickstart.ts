#!/usr/bin/env node
/**
 * The README's first command ends here: brings up tsov-snapshotter and a
 * private containerd (own config, state and socket: a system containerd is
 * never touched), imports a small image built from busybox-static with
 * `ctr images import --snapshotter tsov`, runs a container with
 * `ctr run --snapshotter tsov`, shows tsov's snapshots; then starts tsov-helper
 * and runs a container whose spec has a `type: overlay` mount through
 * tsov-runtime (`ctr run --runc-binary tsov-runtime --mount type=overlay,...`),
 * shows that the write landed in the host upperdir, and stops everything.
 *
 * usage: node dist/demo/quickstart.js [--keep]   (--keep leaves the work directory for a look)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startContainerd, type PrivateContainerd } from '../harness/containerd';
import { buildImageArchive } from '../harness/oci-image';
import { CLI_MAIN, RUNTIME_MAIN, startHelperProcess, startSnapshotterProcess, type DaemonProcess, type SnapshotterProcess } from '../harness/daemon-process';
import { unmountAllUnder } from '../harness/mounts';

const IMAGE = 'docker.io/tsov/demo:latest';

function step(text: string): void {
  process.stdout.write(`==> ${text}\n`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the quick start as root: containerd and overlay mounts need it');
  const keep = process.argv.includes('--keep');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-demo-'));
  const socket = path.join(dir, 'tsov.sock');
  let snapshotter: SnapshotterProcess | undefined;
  let containerd: PrivateContainerd | undefined;
  let helper: DaemonProcess | undefined;
  const overlayRoot = path.join(dir, 'overlays');
  const policyFile = path.join(dir, 'policy.yaml');
  try {
    step(`starting tsov-helper (allowed root ${overlayRoot}, policy ${policyFile})`);
    for (const sub of ['lower1', 'lower2', 'upper', 'work']) fs.mkdirSync(path.join(overlayRoot, sub), { recursive: true });
    fs.writeFileSync(path.join(overlayRoot, 'lower1', 'from-lower1'), 'lower 1\n');
    fs.writeFileSync(path.join(overlayRoot, 'lower2', 'from-lower2'), 'lower 2\n');
    fs.writeFileSync(
      policyFile,
      `snapshotter:\n  address: ${socket}\nhelper:\n  socket: ${dir}/helper/helper.sock\n  state_dir: ${dir}/helper-state\n  allowed_roots: [${overlayRoot}]\ntranslation:\n  state_dir: ${overlayRoot}/mounts\n`,
    );
    helper = await startHelperProcess({ socket: path.join(dir, 'helper', 'helper.sock'), stateDir: path.join(dir, 'helper-state'), allowedRoots: [overlayRoot], extraArgs: ['--log-level', 'warn'] });
    step(`starting tsov-snapshotter (root ${dir}/tsov, socket ${socket})`);
    snapshotter = await startSnapshotterProcess(path.join(dir, 'tsov'), socket, ['--log-level', 'warn']);
    step(`tsov health --config ${policyFile} (gRPC's health check of both daemons)`);
    const health = spawnSync(process.execPath, [CLI_MAIN, 'health', '--config', policyFile], { encoding: 'utf8' });
    process.stdout.write(`${health.stdout}${health.stderr}`.replace(/^(?=.)/gm, '    | '));
    if (health.status !== 0) throw new Error('a daemon does not serve; see the output above');
    step(`starting a private containerd with [proxy_plugins.tsov] (config ${dir}/containerd/config.toml)`);
    containerd = await startContainerd(path.join(dir, 'containerd'), socket, { env: { TSOV_CONFIG: policyFile, TSOV_RUNTIME_CACHE: path.join(dir, 'runtime-cache') } });
    step('building a 3-layer image from busybox-static (layer 3 deletes a file of layer 2)');
    const archive = buildImageArchive(path.join(dir, 'image'), IMAGE, [
      [{ file: '/etc/tsov-demo', content: 'hello from a tsov snapshot\n' }, { file: '/etc/removed-later', content: 'x\n' }],
      [{ whiteout: '/etc/removed-later' }],
    ]);
    step(`ctr images import --snapshotter tsov ${path.basename(archive)}`);
    process.stdout.write(await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', archive]));
    step(`ctr run --snapshotter tsov --rm ${IMAGE} tsov-demo ...`);
    const script = 'cat /etc/tsov-demo; test -e /etc/removed-later && echo "whiteout ignored!" || echo "whiteout honoured: /etc/removed-later is gone"; echo rootfs is writable > /written && cat /written; uname -sr';
    const output = await containerd.runCaptured('tsov-demo', IMAGE, ['/bin/sh', '-c', script], ['--snapshotter', 'tsov']);
    process.stdout.write(output.replace(/^(?=.)/gm, '    | '));
    step('ctr snapshots --snapshotter tsov ls');
    process.stdout.write(await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'ls']));
    if (!output.includes('hello from a tsov snapshot') || !output.includes('whiteout honoured')) {
      throw new Error('the container did not show the expected files; see the output above');
    }
    const layers = ['lower1', 'lower2', 'upper', 'work'].map((sub) => path.join(overlayRoot, sub));
    const mountOptions = `lowerdir=${layers[0]}:${layers[1]}:upperdir=${layers[2]}:workdir=${layers[3]}`;
    step(`ctr run --snapshotter tsov --runc-binary tsov-runtime --mount type=overlay,dst=/ov,options=${mountOptions} ...`);
    const overlayOutput = await containerd.runCaptured('tsov-overlay-demo', IMAGE, ['/bin/sh', '-c', 'ls /ov; echo "written in the container" > /ov/new-file'], [
      '--snapshotter', 'tsov', '--runc-binary', RUNTIME_MAIN, '--mount', `type=overlay,src=overlay,dst=/ov,options=${mountOptions}`,
    ]);
    process.stdout.write(overlayOutput.replace(/^(?=.)/gm, '    | '));
    const persisted = fs.readFileSync(path.join(layers[2]!, 'new-file'), 'utf8');
    step(`on the host, ${layers[2]}/new-file: ${persisted.trim()}`);
    if (!overlayOutput.includes('from-lower1') || !overlayOutput.includes('from-lower2')) {
      throw new Error('the overlay spec mount did not show both lowers; see the output above');
    }
    step('tsov works: the container ran on a tsov snapshot, and its type: overlay spec mount wrote to the host upperdir through tsov-runtime');
  } finally {
    step('stopping containerd, tsov-helper and tsov-snapshotter');
    await containerd?.stop();
    await helper?.stop('SIGTERM');
    unmountAllUnder(dir);
    const exit = await snapshotter?.stop('SIGTERM');
    if (exit !== undefined && exit !== 0) process.stderr.write(`tsov-snapshotter exited with ${exit}:\n${snapshotter?.stderr()}\n`);
    if (keep) step(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`quickstart failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
