/**
 * fuse-overlayfs opens its layers by path (it realpath()s the upper, then
 * opens each layer by name), so it cannot be given descriptors, and a path in
 * an allowed root can be changed between the helper's check and its open.
 * So it mounts in the mount's private directory, which only root can enter,
 * in the foreground (its pid is known); the directories it then holds open are
 * compared, by device and inode, with the ones the helper checked; only if
 * they are the same is the mount moved onto the checked target, by
 * descriptor. Until then nobody else can see it.
 *
 * For a user-namespaced container its lowers are first bound, idmapped to the
 * container's namespace, inside the private directory, and fuse-overlayfs is
 * given those (its own uidmapping= would shift the upper too, and the
 * container's writes would not land there with its host ids). An idmapped
 * bind has the same device and inode as its source, so the check holds.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readMountInfo } from '../../common/mountinfo';
import { privateMountPoints } from '../journal/reconcile';
import { bindByDescriptors, MOUNT_ENV, unmount, type MountApi, type MountOutcome } from './mount-commands';
import { closeDirectories, makeOwnDirectory, openDirectory, type OpenedDirectory } from './opened-directory';
import type { IdMapping } from '../../common/id-mapping';

export interface OpenedLayers {
  lowers: readonly OpenedDirectory[];
  upper?: OpenedDirectory;
  work?: OpenedDirectory;
}

/** How long fuse-overlayfs may take to open its layers and mount. */
const MOUNT_WAIT_MS = 10_000;
const POLL_MS = 10;


function identity(stat: fs.Stats): string {
  return `${stat.dev}:${stat.ino}`;
}

/** Device:inode of every directory a process holds open. */
function openDirectoriesOf(pid: number): Map<string, string> {
  const found = new Map<string, string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const stat = fs.statSync(`/proc/${pid}/fd/${fd}`);
      if (stat.isDirectory()) found.set(identity(stat), fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

/**
 * What fuse-overlayfs opened that the helper did not check, or checked and it
 * did not open; empty when they agree. It opens each lower and the upper, and
 * work/work inside workdir (whose parent must be the checked work). Pure.
 */
export function layerMismatches(checked: { lowers: readonly string[]; upper?: string; work?: string }, held: ReadonlyMap<string, string>, workChild?: string): string[] {
  const problems: string[] = [];
  const expected = new Set([...checked.lowers, ...(checked.upper === undefined ? [] : [checked.upper])]);
  for (const id of expected) if (!held.has(id)) problems.push(`fuse-overlayfs did not open the checked directory ${id}`);
  for (const [id, where] of held) {
    if (!expected.has(id) && id !== workChild) problems.push(`fuse-overlayfs holds ${where}, which the helper did not check`);
  }
  if (checked.work !== undefined && (workChild === undefined || !held.has(workChild))) problems.push('fuse-overlayfs did not open the checked workdir');
  return problems;
}

/** Starts fuse-overlayfs in the foreground and waits for its mount (or its exit). */
async function startFuse(options: string, mountPoint: string, logFile: string): Promise<{ pid?: number; message: string }> {
  const log = fs.openSync(logFile, 'w', 0o600);
  const child = spawn('fuse-overlayfs', ['-f', '-o', options, mountPoint], { env: MOUNT_ENV, cwd: '/', detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `fuse-overlayfs exited (${signal ?? `status ${code}`})`));
  child.once('error', (error) => (exited = error.message));
  child.unref();
  const deadline = Date.now() + MOUNT_WAIT_MS;
  while (Date.now() < deadline && exited === undefined) {
    if (readMountInfo().some((m) => m.mountPoint === mountPoint && m.fsType === 'fuse.fuse-overlayfs')) return { pid: child.pid, message: '' };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const said = fs.readFileSync(logFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('unknown argument ignored'));
  if (exited === undefined) child.kill('SIGKILL');
  return { message: said[0] ?? exited ?? `no mount after ${MOUNT_WAIT_MS} ms` };
}

/** Binds each lower, idmapped, at privateDir/lower-N; returns the paths fuse-overlayfs is to open. */
async function stageIdmappedLowers(privateDir: string, lowers: readonly OpenedDirectory[], idMapping: IdMapping, api: MountApi, opened: OpenedDirectory[]): Promise<string[]> {
  const staged: string[] = [];
  for (const [i, lower] of lowers.entries()) {
    const at = makeOwnDirectory(path.join(privateDir, `lower-${i}`));
    opened.push(at);
    const bound = await bindByDescriptors(lower.fd, at.fd, { api, idMapping });
    if (!bound.ok) throw new Error(`could not bind lower ${lower.path} idmapped for fuse-overlayfs: ${bound.message}`);
    staged.push(at.path);
  }
  return staged;
}

export async function mountFuseStaged(privateDir: string, layers: OpenedLayers, target: OpenedDirectory, api: MountApi, idMapping?: IdMapping): Promise<MountOutcome> {
  fs.mkdirSync(privateDir, { recursive: true, mode: 0o700 });
  const merged = makeOwnDirectory(path.join(privateDir, 'merged'));
  const opened: OpenedDirectory[] = [merged];
  try {
    const lowerPaths = idMapping === undefined ? layers.lowers.map((l) => l.path) : await stageIdmappedLowers(privateDir, layers.lowers, idMapping, api, opened);
    const options = [`lowerdir=${lowerPaths.join(':')}`];
    if (layers.upper !== undefined && layers.work !== undefined) options.push(`upperdir=${layers.upper.path}`, `workdir=${layers.work.path}`);
    const started = await startFuse(options.join(','), merged.path, path.join(privateDir, 'fuse-overlayfs.log'));
    if (started.pid === undefined) return { ok: false, message: started.message };
    const of = (dir: OpenedDirectory) => identity(fs.statSync(dir.handle));
    let workChild: string | undefined;
    if (layers.work !== undefined) {
      try {
        workChild = identity(fs.statSync(path.join(layers.work.handle, 'work')));
      } catch {
        workChild = undefined;
      }
    }
    const mismatches = layerMismatches(
      { lowers: layers.lowers.map(of), upper: layers.upper && of(layers.upper), work: layers.work && of(layers.work) },
      openDirectoriesOf(started.pid),
      workChild,
    );
    if (mismatches.length > 0) return { ok: false, message: `a layer changed between the helper's check and fuse-overlayfs's open: ${mismatches.join('; ')}; nothing was mounted at the target` };
    const root = openDirectory(merged.path);
    if (root.kind !== 'opened') return { ok: false, message: `the fuse mount at ${merged.path} cannot be opened` };
    opened.push(root.directory);
    const moved = await bindByDescriptors(root.directory.fd, target.fd, { move: true, api });
    return moved.ok ? moved : { ok: false, message: `could not move the fuse mount onto ${target.path}: ${moved.message}` };
  } finally {
    closeDirectories(opened);
  }
}

/**
 * Unmounts everything left inside a mount's private directory (a memory
 * tmpfs, a fuse mount that was never moved), then removes the directory, but
 * only when nothing is mounted there any more.
 */
export async function releasePrivateDirectory(privateDir: string | undefined): Promise<void> {
  if (privateDir === undefined) return;
  for (const point of privateMountPoints({ privateDir }, readMountInfo())) await unmount(point, true);
  const left = privateMountPoints({ privateDir }, readMountInfo());
  if (left.length > 0) throw new Error(`${left.join(', ')} would not unmount; ${privateDir} is kept`);
  fs.rmSync(privateDir, { recursive: true, force: true });
}
