/**
 * The helper's only ways to change the mount table. Directories a request
 * named are mounted by descriptor through native/tsov-mount (see there and
 * opened-directory.ts); mount(8) only mounts tmpfs on the helper's own
 * directories, umount(8) unmounts, and fuse-overlayfs gets staged paths the
 * helper alone can reach. Each runs without a shell, with arguments built
 * here from checked values.
 */
import path from 'node:path';
import { formatIdMap, type IdMapping } from '../../common/id-mapping';
import type { OverlayChoices } from '../api/mount-request';
import { choiceWords } from '../api/overlay-options';
import { pathForChild } from './opened-directory';
import { firstLine, runCommand, type CommandResult } from './run-command';

export const MOUNT_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LIBMOUNT_FORCE_MOUNT2: 'always', LC_ALL: 'C' };

/** Built by `npm run build` (scripts/build-native.mjs) next to the compiled helper. */
export const TSOV_MOUNT = path.join(__dirname, '..', 'native', 'tsov-mount');

export interface MountOutcome {
  ok: boolean;
  /** The first error line, empty on success. */
  message: string;
}

/** How tsov-mount gives layers to the kernel: descriptors where it takes them (auto), or /proc/self/fd paths (legacy). */
export type MountApi = 'auto' | 'legacy';

export interface DescriptorMountOutcome extends MountOutcome {
  /** How it was mounted: fsconfig with descriptors, or mount(2) with /proc/self/fd paths. */
  method?: 'fd' | 'legacy';
  /** The kernel's messages about a refused overlay (from its fs context). */
  kernelLog: string[];
}

function outcome(result: CommandResult): MountOutcome {
  return { ok: result.code === 0, message: result.code === 0 ? '' : firstLine(result.stderr) || `exit status ${result.code}` };
}

function descriptorOutcome(result: CommandResult): DescriptorMountOutcome {
  const lines = result.stderr.split('\n');
  const kernelLog = lines.filter((line) => line.startsWith('kernel: ')).map((line) => line.slice('kernel: '.length));
  const method = /^mounted (fd|legacy)$/m.exec(result.stdout)?.[1] as 'fd' | 'legacy' | undefined;
  return { ...outcome(result), method, kernelLog };
}

/** -i: no /sbin/mount.<type> helpers; -n: no /etc/mtab; --no-canonicalize: paths are the helper's own. */
const MOUNT_FLAGS = ['-i', '-n', '--no-canonicalize'];

/** Layers as open directory descriptors (OpenedDirectory.fd). */
export interface DescriptorLayers {
  lowers: readonly number[];
  upper?: number;
  work?: number;
}

/** tsov-mount's arguments for typed choices: the same fixed words as the option string. */
export function choiceArguments(choices: OverlayChoices): string[] {
  return choiceWords(choices).flatMap((word) => (word.includes('=') ? ['--set', word] : ['--flag', word]));
}

/** tsov-mount's arguments for idmapped lowers: one --uidmap/--gidmap per range, the numbers written here from checked integers. */
export function idMappingArguments(mapping: IdMapping | undefined): string[] {
  if (mapping === undefined) return [];
  const ranges = (flag: string, map: IdMapping['uid']) => map.flatMap((range) => [flag, formatIdMap([range])]);
  return [...ranges('--uidmap', mapping.uid), ...ranges('--gidmap', mapping.gid)];
}

/** Mounts an overlay of opened layers; with idMapping, the lowers are idmapped to that user namespace's ranges. */
export async function mountOverlayByDescriptors(source: string, layers: DescriptorLayers, target: number, choices: OverlayChoices, api: MountApi, idMapping?: IdMapping): Promise<DescriptorMountOutcome> {
  const descriptors: number[] = [];
  const pass = (fd: number) => String(3 + descriptors.push(fd) - 1);
  const args = ['overlay', ...(api === 'legacy' ? ['--legacy'] : []), '--source', source, '--target', pass(target)];
  for (const lower of layers.lowers) args.push('--lower', pass(lower));
  if (layers.upper !== undefined && layers.work !== undefined) args.push('--upper', pass(layers.upper), '--work', pass(layers.work));
  args.push(...choiceArguments(choices), ...idMappingArguments(idMapping));
  return descriptorOutcome(await runCommand(TSOV_MOUNT, args, { env: MOUNT_ENV, descriptors }));
}

/**
 * Binds the directory `from` at `target`, or with move, moves the mount whose
 * root `from` is; with idMapping, the bind is a read-only clone idmapped to it.
 */
export async function bindByDescriptors(from: number, target: number, options: { move?: boolean; api: MountApi; idMapping?: IdMapping }): Promise<DescriptorMountOutcome> {
  const legacy = options.api === 'legacy' && options.idMapping === undefined;
  const args = ['bind', ...(legacy ? ['--legacy'] : []), ...(options.move === true ? ['--move'] : []), '--from', '3', '--target', '4', ...idMappingArguments(options.idMapping)];
  return descriptorOutcome(await runCommand(TSOV_MOUNT, args, { env: MOUNT_ENV, descriptors: [from, target] }));
}

export async function mountTmpfs(source: string, sizeBytes: number, target: string): Promise<MountOutcome> {
  const data = `size=${Math.floor(sizeBytes)},mode=0700`;
  return outcome(await runCommand('mount', [...MOUNT_FLAGS, '-t', 'tmpfs', '-o', data, source, target], { env: MOUNT_ENV }));
}

export type UnmountOutcome = 'unmounted' | 'not-mounted' | 'busy' | 'failed';

export async function unmount(target: string, detach: boolean): Promise<{ outcome: UnmountOutcome; message: string }> {
  const { path: where, descriptors } = pathForChild(target);
  // -c (--no-canonicalize): the path is used as given, not resolved into another name first.
  const result = await runCommand('umount', [...(detach ? ['-l'] : []), '-n', '-c', where], { env: MOUNT_ENV, descriptors });
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
