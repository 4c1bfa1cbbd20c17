/**
 * Backend memory's upper and work: a size-limited tmpfs mounted on the
 * mount's private directory (the helper's own), with upper/ and work/ made
 * and opened there. releasePrivateDirectory() (fuse-staged-mount.ts) takes it
 * down with the mount.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '../../common/errors';
import { memorySourceTag } from '../journal/reconcile';
import { mountTmpfs } from './mount-commands';
import { closeDirectories, makeOwnDirectory, type OpenedDirectory } from './opened-directory';

/**
 * owner: a user-namespaced container's root (host ids): the upper's root
 * directory, which is the merged directory's root, becomes its own, as the
 * root of a container's writable layer is (containerd chowns a new snapshot's
 * fs/ to the mapped root too).
 */
export async function makeMemoryUpper(id: number, memoryDir: string, bytes: number, owner?: { uid: number; gid: number }): Promise<{ upper: OpenedDirectory; work: OpenedDirectory }> {
  fs.mkdirSync(memoryDir, { recursive: true, mode: 0o700 });
  const mounted = await mountTmpfs(memorySourceTag(id), bytes, memoryDir);
  if (!mounted.ok) throw new FailedPreconditionError(`could not mount a ${bytes}-byte tmpfs for backend memory at ${memoryDir}: ${mounted.message}`);
  const upper = makeOwnDirectory(path.join(memoryDir, 'upper'));
  try {
    if (owner !== undefined) fs.chownSync(upper.handle, owner.uid, owner.gid);
    return { upper, work: makeOwnDirectory(path.join(memoryDir, 'work')) };
  } catch (error) {
    closeDirectories([upper]);
    throw error;
  }
}
