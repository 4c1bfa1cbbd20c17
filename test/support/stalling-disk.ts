/**
 * A disk that stops answering on demand, as a network volume or a failing
 * device does: an ext4 on a loop device whose backing file lives on a
 * fuse-overlayfs mount. Stopping the fuse-overlayfs process (SIGSTOP) stops
 * the loop device's I/O: writes still land in the page cache, every fsync
 * waits until it is resumed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { waitFor } from '../../harness/wait';
import { readMountInfo } from '../../common/mountinfo';

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

export interface StallingDisk {
  /** The ext4's mount point. */
  root: string;
  /** Stops its I/O. */
  hang(): void;
  /** Lets its I/O go on. */
  resume(): void;
}

/**
 * An ext4 at dir/root; cleaned up in the test's teardown (registered now, so it runs after
 * the teardowns of daemons started later: no loop device or fuse mount is left attached).
 */
export async function stallingDisk(t: ExecutionContext, dir: string): Promise<StallingDisk> {
  for (const sub of ['lower', 'upper', 'work', 'backing', 'root']) fs.mkdirSync(path.join(dir, sub));
  const backing = path.join(dir, 'backing');
  const fuse: ChildProcess = spawn('fuse-overlayfs', ['-f', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, backing], { stdio: 'ignore' });
  let loop: string | undefined;
  // Runs after the daemon on it is gone (registered before it starts): the loop device is not left attached.
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
