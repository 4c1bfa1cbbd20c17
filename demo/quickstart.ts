#!/usr/bin/env node
/**
 * The README's first command ends here: brings up tsov-snapshotter and a
 * private containerd (own config, state and socket: a system containerd is
 * never touched), imports a small image built from busybox-static with
 * `ctr images import --snapshotter tsov`, runs a container with
 * `ctr run --snapshotter tsov`, shows tsov's snapshots, and stops everything.
 *
 * usage: node dist/demo/quickstart.js [--keep]   (--keep leaves the work directory for a look)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startContainerd, type PrivateContainerd } from '../harness/containerd';
import { buildImageArchive } from '../harness/oci-image';
import { startSnapshotterProcess, type SnapshotterProcess } from '../harness/daemon-process';

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
  try {
    step(`starting tsov-snapshotter (root ${dir}/tsov, socket ${socket})`);
    snapshotter = await startSnapshotterProcess(path.join(dir, 'tsov'), socket, ['--log-level', 'warn']);
    step(`starting a private containerd with [proxy_plugins.tsov] (config ${dir}/containerd/config.toml)`);
    containerd = await startContainerd(path.join(dir, 'containerd'), socket);
    step('building a 3-layer image from busybox-static (layer 3 deletes a file of layer 2)');
    const archive = buildImageArchive(path.join(dir, 'image'), IMAGE, [
      [{ file: '/etc/tsov-demo', content: 'hello from a tsov snapshot\n' }, { file: '/etc/removed-later', content: 'x\n' }],
      [{ whiteout: '/etc/removed-later' }],
    ]);
    step(`ctr images import --snapshotter tsov ${path.basename(archive)}`);
    process.stdout.write(await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', archive]));
    step(`ctr run --snapshotter tsov --rm ${IMAGE} tsov-demo ...`);
    const script = 'cat /etc/tsov-demo; test -e /etc/removed-later && echo "whiteout ignored!" || echo "whiteout honoured: /etc/removed-later is gone"; echo rootfs is writable > /written && cat /written; uname -sr';
    const output = await containerd.ctr(['run', '--snapshotter', 'tsov', '--rm', IMAGE, 'tsov-demo', '/bin/sh', '-c', script]);
    process.stdout.write(output.replace(/^(?=.)/gm, '    | '));
    step('ctr snapshots --snapshotter tsov ls');
    process.stdout.write(await containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'ls']));
    if (!output.includes('hello from a tsov snapshot') || !output.includes('whiteout honoured')) {
      throw new Error('the container did not show the expected files; see the output above');
    }
    step('tsov works: the container ran on a tsov snapshot');
  } finally {
    step('stopping containerd and tsov-snapshotter');
    await containerd?.stop();
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
