/**
 * Finds out what overlayfs can do on the filesystem holding a directory, by
 * trying it: xattrs and a whiteout device on a scratch file, then one real
 * test mount per feature (mount-check-plan.ts) with files and directories
 * created, removed and renamed through it, then fuse-overlayfs. Everything
 * happens in a scratch directory inside the probed directory, removed after.
 * Callers serialise probes with mounts (the kernel log is read per attempt).
 */
import fs from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoCode } from '../../common/errors';
import { filesystemName } from '../../common/filesystem-types';
import { readMountInfo } from '../../common/mountinfo';
import { KernelLogCursor } from '../host/kernel-log';
import { mountFuseStaged, releasePrivateDirectory } from '../host/fuse-staged-mount';
import { fuseOverlayfsVersion, mountOverlayByDescriptors, unmount, type MountApi } from '../host/mount-commands';
import { closeDirectories, openDirectory, pathForChild, type OpenedDirectory } from '../host/opened-directory';
import { runCommand, firstLine } from '../host/run-command';
import { checkLayers, MOUNT_CHECKS, PROBE_ID_MAPPING, type MountCheckPlan, type ScratchLayers } from './mount-check-plan';
import { BASIC_MOUNT_CHECK, failedMountDetail, kernelWarningChecks, type Check, type ProbeReport } from '../api/probe-report';

const MODULE_PARAMETERS_DIR = '/sys/module/overlay/parameters';
const PROBE_SOURCE = 'tsov-probe';

function moduleParameters(): Record<string, string> {
  const parameters: Record<string, string> = {};
  if (!existsSync(MODULE_PARAMETERS_DIR)) return parameters;
  for (const name of readdirSync(MODULE_PARAMETERS_DIR).sort()) {
    try {
      parameters[name] = readFileSync(path.join(MODULE_PARAMETERS_DIR, name), 'utf8').trim();
    } catch {
      parameters[name] = '(unreadable)';
    }
  }
  return parameters;
}

function describeError(error: unknown): string {
  return errnoCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/** Runs one step; returns a failure line or nothing. */
async function step(what: string, action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action();
    return undefined;
  } catch (error) {
    return `${what}: ${describeError(error)}`;
  }
}

async function isWhiteout(file: string): Promise<boolean> {
  const stat = await fs.lstat(file);
  return stat.isCharacterDevice() && stat.rdev === 0;
}

/** Fills two lower directories with what the exercise touches. */
async function prepareLayers(base: string): Promise<ScratchLayers & { merged: string }> {
  const dirs = { lowers: [path.join(base, 'l1'), path.join(base, 'l2')] as [string, string], upper: path.join(base, 'u'), work: path.join(base, 'w'), merged: path.join(base, 'm') };
  for (const dir of [...dirs.lowers, dirs.upper, dirs.work, dirs.merged]) await fs.mkdir(dir);
  const [top, bottom] = dirs.lowers;
  await fs.writeFile(path.join(top, 'lower-file'), 'lower');
  await fs.writeFile(path.join(top, 'lower-file2'), 'lower2');
  for (const dir of ['lower-dir', 'lower-dir2']) {
    await fs.mkdir(path.join(top, dir));
    await fs.writeFile(path.join(top, dir, 'inner'), 'inner');
  }
  await fs.writeFile(path.join(bottom, 'second-file'), 'second');
  return dirs;
}

/**
 * Uses a mounted overlay the way a container does and returns what failed.
 * This is where "mount succeeds, rm fails with EIO" shows up.
 */
type ExercisedPlan = Pick<MountCheckPlan, 'readOnlyStack' | 'expectDirectoryRename' | 'idmappedLowers'>;

/** Fails unless file is owned by the probe's mapped root (the lowers were idmapped). */
async function ownedByMappedRoot(file: string): Promise<void> {
  const stat = await fs.lstat(file);
  const root = PROBE_ID_MAPPING.uid[0].hostId;
  if (stat.uid !== root || stat.gid !== PROBE_ID_MAPPING.gid[0].hostId) throw new Error(`owned by ${stat.uid}:${stat.gid}, not the mapped root ${root}:${root}`);
}

async function exercise(merged: string, upper: string | undefined, plan: ExercisedPlan): Promise<{ failures: string[]; notes: string[] }> {
  const failures: string[] = [];
  const notes: string[] = [];
  const at = (name: string) => path.join(merged, name);
  const record = (failure: string | undefined) => failure !== undefined && failures.push(failure);
  record(await step('read a lower file', async () => {
    if ((await fs.readFile(at('lower-file'), 'utf8')) !== 'lower') throw new Error('wrong content');
  }));
  if (plan.idmappedLowers === true) record(await step('a lower file (uid 0 on disk) seen through the idmapped lower', () => ownedByMappedRoot(at('lower-file'))));
  if (plan.readOnlyStack === true) {
    record(await step('read a file of the second lower', async () => {
      if ((await fs.readFile(at('second-file'), 'utf8')) !== 'second') throw new Error('wrong content');
    }));
    return { failures, notes };
  }
  record(await step('create a file', () => fs.writeFile(at('new-file'), 'new')));
  record(await step('create a directory and a file in it', async () => {
    await fs.mkdir(at('new-dir'));
    await fs.writeFile(path.join(at('new-dir'), 'f'), 'f');
  }));
  record(await step('remove the new file and directory', async () => {
    await fs.rm(at('new-file'));
    await fs.rm(at('new-dir'), { recursive: true });
  }));
  record(await step('remove a lower file', () => fs.rm(at('lower-file'))));
  record(await step('remove a lower directory', () => fs.rm(at('lower-dir'), { recursive: true })));
  if (upper !== undefined) {
    record(await step('find whiteouts in the upper', async () => {
      if (!(await isWhiteout(path.join(upper, 'lower-file'))) || !(await isWhiteout(path.join(upper, 'lower-dir')))) throw new Error('not 0/0 character devices');
    }));
  }
  record(await step('change the mode of a lower file (copy-up)', async () => {
    await fs.chmod(at('lower-file2'), 0o600);
    if ((await fs.readFile(at('lower-file2'), 'utf8')) !== 'lower2') throw new Error('content changed by copy-up');
  }));
  if (plan.idmappedLowers === true && upper !== undefined) {
    record(await step('the copied-up file in the upper', () => ownedByMappedRoot(path.join(upper, 'lower-file2'))));
    notes.push(`lower files show as the mapped root (${PROBE_ID_MAPPING.uid[0].hostId}) and copy up so`);
  }
  const renamed = await step('rename a lower directory', () => fs.rename(at('lower-dir2'), at('moved-dir')));
  if (renamed === undefined) notes.push('renaming a lower directory works');
  else if (plan.expectDirectoryRename === true || !renamed.endsWith('EXDEV')) failures.push(renamed);
  else notes.push('renaming a lower directory: EXDEV (no redirect_dir)');
  return { failures, notes };
}

/** Opens a directory the probe made (under its scratch directory's descriptor); undefined if it is not there. */
function openOwn(dir: string): OpenedDirectory | undefined {
  const outcome = openDirectory(dir);
  return outcome.kind === 'opened' ? outcome.directory : undefined;
}

function mountIsReadOnly(target: string): boolean {
  const root = openOwn(target);
  if (root === undefined) return false;
  try {
    const entry = readMountInfo().find((m) => m.mountId === root.mountId);
    return entry !== undefined && (entry.mountOptions.includes('ro') || entry.superOptions.includes('ro'));
  } finally {
    closeDirectories([root]);
  }
}

async function release(target: string): Promise<void> {
  const result = await unmount(target, false);
  if (result.outcome === 'busy' || result.outcome === 'failed') await unmount(target, true);
}

type Mounter = (layers: ScratchLayers, merged: string) => Promise<{ ok: boolean; message: string; kernelLog?: string[] }>;

/** Mounts the plan's layers by descriptor, as the helper mounts requests. */
function descriptorMounter(plan: MountCheckPlan, api: MountApi): Mounter {
  return async (layers, merged) => {
    const chosen = checkLayers(plan, layers);
    const opened = [...chosen.lowers, chosen.upper, chosen.work, merged].map((dir) => (dir === undefined ? undefined : openOwn(dir)));
    try {
      if (opened.some((dir, i) => dir === undefined && i < chosen.lowers.length)) return { ok: false, message: 'a scratch layer is missing' };
      const [upper, work, target] = opened.slice(chosen.lowers.length) as Array<OpenedDirectory | undefined>;
      const lowers = opened.slice(0, chosen.lowers.length).map((dir) => dir!.fd);
      const idMapping = plan.idmappedLowers === true ? PROBE_ID_MAPPING : undefined;
      const result = await mountOverlayByDescriptors(PROBE_SOURCE, { lowers, upper: upper?.fd, work: work?.fd }, target!.fd, plan.choices, plan.lowerdirPlus === true ? 'auto' : api, idMapping);
      if (result.ok && plan.lowerdirPlus === true && result.method !== 'fd') {
        await release(merged);
        return { ok: false, message: 'the kernel takes no layer descriptors (fsconfig lowerdir+, Linux >= 6.13); tsov-helper gives it /proc/self/fd paths instead, and mountinfo then shows those', kernelLog: [] };
      }
      return result;
    } finally {
      closeDirectories(opened);
    }
  };
}

/** A check and whether its test mount was made at all (a check can fail after mounting). */
interface MountCheckOutcome {
  check: Check;
  mounted: boolean;
}

/** Mounts, exercises and unmounts one test overlay; the result as a Check. */
async function runMountCheck(name: string, base: string, mounter: Mounter, plan: ExercisedPlan): Promise<MountCheckOutcome> {
  const layers = await prepareLayers(base);
  const log = KernelLogCursor.openAtEnd();
  const mounted = await mounter(layers, layers.merged);
  if (!mounted.ok) {
    const own = mounted.kernelLog ?? [];
    const meanwhile = log.finish();
    log.close();
    return { check: { name, ok: false, detail: failedMountDetail(mounted.message, own, meanwhile), kernelLog: [...own, ...meanwhile] }, mounted: false };
  }
  try {
    const readOnly = plan.readOnlyStack !== true && mountIsReadOnly(layers.merged);
    const { failures, notes } = await exercise(layers.merged, plan.readOnlyStack === true ? undefined : layers.upper, plan);
    const kernelLog = log.finish();
    if (readOnly) failures.unshift('the kernel mounted it read-only');
    const ok = failures.length === 0;
    const worked = plan.readOnlyStack === true ? 'mounted read-only; files of both lowers visible' : 'mounted; create, remove and copy-up through it work';
    const detail = ok ? [worked, ...notes].join('; ') : `mounted, but: ${failures.join('; ')}`;
    return { check: { name, ok, detail, kernelLog }, mounted: true };
  } finally {
    log.close();
    await release(layers.merged);
  }
}

async function upperChecks(scratch: string): Promise<Check[]> {
  const file = path.join(scratch, 'xattr-target');
  await fs.writeFile(file, '');
  const checks: Check[] = [{ name: 'writable', ok: true, detail: 'created a scratch directory and a file', kernelLog: [] }];
  for (const [name, key] of [['trusted-xattr', 'trusted.tsov-probe'], ['user-xattr', 'user.tsov-probe']] as const) {
    const child = pathForChild(file);
    const result = await runCommand('setfattr', ['-n', key, '-v', 'y', child.path], { descriptors: child.descriptors });
    checks.push({ name, ok: result.code === 0, detail: result.code === 0 ? `set ${key} on a file` : `setting ${key} failed: ${firstLine(result.stderr)}`, kernelLog: [] });
  }
  const whiteout = path.join(scratch, 'whiteout');
  const child = pathForChild(whiteout);
  const mknod = await runCommand('mknod', [child.path, 'c', '0', '0'], { descriptors: child.descriptors });
  const made = mknod.code === 0 && (await isWhiteout(whiteout).catch(() => false));
  checks.push({ name: 'whiteout-mknod', ok: made, detail: made ? 'made a 0/0 character device (an overlay whiteout)' : `mknod c 0 0 failed: ${firstLine(mknod.stderr)}`, kernelLog: [] });
  return checks;
}

/** Where the probe's fuse check stages its layers (fuse-staged-mount.ts), in the helper's own directory. */
export interface ProbeSettings {
  privateDir: string;
  mountApi: MountApi;
}

async function fuseCheck(scratch: string, settings: ProbeSettings): Promise<Check> {
  const name = 'fuse-overlayfs';
  const version = await fuseOverlayfsVersion();
  if (version === undefined) return { name, ok: false, detail: 'fuse-overlayfs is not installed (apt-get install fuse-overlayfs)', kernelLog: [] };
  if (!existsSync('/dev/fuse')) return { name, ok: false, detail: `${version} is installed but /dev/fuse is missing (modprobe fuse)`, kernelLog: [] };
  const mounter: Mounter = async (layers, merged) => {
    const opened = [layers.lowers[0], layers.upper, layers.work, merged].map(openOwn);
    try {
      if (opened.some((dir) => dir === undefined)) return { ok: false, message: 'a scratch layer is missing' };
      const [lower, upper, work, target] = opened as OpenedDirectory[];
      return await mountFuseStaged(settings.privateDir, { lowers: [lower!], upper, work }, target!, settings.mountApi);
    } finally {
      closeDirectories(opened);
    }
  };
  try {
    const { check } = await runMountCheck(name, path.join(scratch, 'fuse'), mounter, {});
    return { ...check, detail: `${version}: ${check.detail}` };
  } finally {
    await releasePrivateDirectory(settings.privateDir);
  }
}

/**
 * The scratch directory is made in the probed directory, which others may be
 * able to write: it is opened once and everything inside it is reached through
 * that descriptor (/proc/self/fd/N/...), so renaming it or swapping in a
 * symlink cannot send a test mount elsewhere.
 */
async function openScratch(directory: OpenedDirectory): Promise<{ scratch?: OpenedDirectory; name?: string; failure?: string }> {
  let made: string;
  try {
    made = await fs.mkdtemp(path.join(directory.handle, '.tsov-probe-'));
  } catch (error) {
    return { failure: `cannot create a scratch directory in ${directory.path}: ${describeError(error)}` };
  }
  const name = path.basename(made);
  const opened = openDirectory(made);
  if (opened.kind === 'opened' && opened.directory.path === path.join(directory.path, name)) return { scratch: opened.directory, name };
  if (opened.kind === 'opened') closeDirectories([opened.directory]);
  return { failure: `the scratch directory ${name} in ${directory.path} was replaced while the probe opened it; nothing was mounted` };
}

/** Empties the scratch directory through its descriptor, then removes its (then empty) entry through the probed directory's. */
async function removeScratch(directory: OpenedDirectory, scratch: OpenedDirectory, name: string): Promise<void> {
  for (const entry of await fs.readdir(scratch.handle)) await fs.rm(path.join(scratch.handle, entry), { recursive: true, force: true });
  await fs.rmdir(path.join(directory.handle, name)).catch(() => undefined);
  closeDirectories([scratch]);
}

/** Probes the filesystem holding an opened directory; the caller keeps it open until this returns. */
export async function probeDirectory(directory: OpenedDirectory, settings: ProbeSettings): Promise<ProbeReport> {
  const stat = await fs.stat(directory.handle);
  const statfs = await fs.statfs(directory.handle);
  const report: ProbeReport = {
    directory: directory.path,
    device: Number(stat.dev),
    filesystem: filesystemName(statfs.type),
    filesystemMagic: Number(statfs.type),
    kernelRelease: os.release(),
    moduleParameters: moduleParameters(),
    upperChecks: [],
    mountChecks: [],
    fuseOverlayfs: { name: 'fuse-overlayfs', ok: false, detail: 'not probed', kernelLog: [] },
    probedAtMs: Date.now(),
    cached: false,
  };
  const { scratch: opened, name, failure } = await openScratch(directory);
  if (opened === undefined) {
    report.upperChecks.push({ name: 'writable', ok: false, detail: failure!, kernelLog: [] });
    return report;
  }
  const scratch = opened.handle;
  try {
    report.upperChecks = await upperChecks(scratch);
    let basicMounted = false;
    for (const [index, plan] of MOUNT_CHECKS.entries()) {
      const base = path.join(scratch, String(index));
      await fs.mkdir(base);
      const outcome = await runMountCheck(plan.name, base, descriptorMounter(plan, settings.mountApi), plan);
      report.mountChecks.push(outcome.check);
      if (plan.name === BASIC_MOUNT_CHECK) basicMounted = outcome.mounted;
    }
    const basic = report.mountChecks.find((check) => check.name === BASIC_MOUNT_CHECK)!;
    report.upperChecks.push(...kernelWarningChecks(basic.kernelLog, basicMounted));
    await fs.mkdir(path.join(scratch, 'fuse'));
    report.fuseOverlayfs = await fuseCheck(scratch, settings);
  } finally {
    await removeScratch(directory, opened, name!);
  }
  return report;
}
