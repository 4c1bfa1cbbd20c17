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

export async function makeMemoryUpper(id: number, memoryDir: string, bytes: number): Promise<{ upper: OpenedDirectory; work: OpenedDirectory }> {
  fs.mkdirSync(memoryDir, { recursive: true, mode: 0o700 });
  const mounted = await mountTmpfs(memorySourceTag(id), bytes, memoryDir);
  if (!mounted.ok) throw new FailedPreconditionError(`could not mount a ${bytes}-byte tmpfs for backend memory at ${memoryDir}: ${mounted.message}`);
  const upper = makeOwnDirectory(path.join(memoryDir, 'upper'));
  try {
    return { upper, work: makeOwnDirectory(path.join(memoryDir, 'work')) };
  } catch (error) {
    closeDirectories([upper]);
    throw error;
  }
}
