/**
 * The helper's only ways to change the mount table: mount(8), umount(8) and
 * fuse-overlayfs, each run without a shell with arguments built by the caller
 * from checked values. mount(8) is forced onto mount(2)
 * (LIBMOUNT_FORCE_MOUNT2=always): util-linux >= 2.39 otherwise uses fsconfig,
 * which takes at most 255 bytes per option value and would cut long lowerdirs.
 */
import { firstLine, runCommand, type CommandResult } from './run-command';

export const MOUNT_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LIBMOUNT_FORCE_MOUNT2: 'always', LC_ALL: 'C' };

export interface MountOutcome {
  ok: boolean;
  /** mount(8)'s first error line, empty on success. */
  message: string;
}

function outcome(result: CommandResult): MountOutcome {
  return { ok: result.code === 0, message: result.code === 0 ? '' : firstLine(result.stderr) || `exit status ${result.code}` };
}

/** -i: no /sbin/mount.<type> helpers; -n: no /etc/mtab; --no-canonicalize: paths are already resolved and checked. */
const MOUNT_FLAGS = ['-i', '-n', '--no-canonicalize'];

export async function mountKernelOverlay(source: string, data: string, target: string, workingDirectory?: string): Promise<MountOutcome> {
  return outcome(await runCommand('mount', [...MOUNT_FLAGS, '-t', 'overlay', '-o', data, source, target], { cwd: workingDirectory, env: MOUNT_ENV }));
}

export async function mountTmpfs(source: string, sizeBytes: number, target: string): Promise<MountOutcome> {
  const data = `size=${Math.floor(sizeBytes)},mode=0700`;
  return outcome(await runCommand('mount', [...MOUNT_FLAGS, '-t', 'tmpfs', '-o', data, source, target], { env: MOUNT_ENV }));
}

/** fuse-overlayfs daemonizes after mounting; it exits 0 once the mount is there. */
export async function mountFuseOverlay(data: string, target: string): Promise<MountOutcome> {
  return outcome(await runCommand('fuse-overlayfs', ['-o', data, target], { env: MOUNT_ENV, untilExit: true }));
}

export type UnmountOutcome = 'unmounted' | 'not-mounted' | 'busy' | 'failed';

export async function unmount(target: string, detach: boolean): Promise<{ outcome: UnmountOutcome; message: string }> {
  const result = await runCommand('umount', [...(detach ? ['-l'] : []), '-n', target], { env: MOUNT_ENV });
  if (result.code === 0) return { outcome: 'unmounted', message: '' };
  const message = firstLine(result.stderr);
  if (/not mounted|no mount point specified|No such file or directory/.test(message)) return { outcome: 'not-mounted', message };
  if (/target is busy|device is busy/.test(message)) return { outcome: 'busy', message };
  return { outcome: 'failed', message };
}

export async function fuseOverlayfsVersion(): Promise<string | undefined> {
  const result = await runCommand('fuse-overlayfs', ['--version'], { env: MOUNT_ENV, timeoutMs: 5000 });
  if (result.code !== 0) return undefined;
  return result.stdout.split('\n').find((line) => line.startsWith('fuse-overlayfs')) ?? firstLine(result.stdout);
}
