/**
 * What the snapshotter checks about its host before serving: the root must be
 * able to hold overlay layers, and the kernel must have overlayfs. The
 * snapshotter never mounts (it has no CAP_SYS_ADMIN), so these are read-only
 * checks; tsov-helper does the test mounts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../common/errors';
import { filesystemName, UNSUITABLE_UPPER_FILESYSTEMS } from '../common/filesystem-types';
import type { HostOverlayFeatures } from '../common/overlay-mounts';

const OVERLAY_INDEX_PARAMETER = '/sys/module/overlay/parameters/index';

/** Refuses, with the reason and the fix, a root that cannot hold overlay layers. */
export function checkSnapshotRoot(root: string): void {
  const statfs = fs.statfsSync(root);
  const filesystem = filesystemName(statfs.type);
  if (UNSUITABLE_UPPER_FILESYSTEMS.has(filesystem)) {
    throw new StartupError(
      `${root} is on ${filesystem}, which cannot hold overlay upper directories; put --root on ext4, xfs (ftype=1) or btrfs`,
    );
  }
  if (!supportsDirentType(root)) {
    throw new StartupError(
      `${root} is on a filesystem without d_type support, which overlayfs needs; use ext4, or xfs formatted with ftype=1`,
    );
  }
  if (!kernelHasOverlay()) {
    throw new StartupError('the kernel has no overlay filesystem (not in /proc/filesystems); run `modprobe overlay` and start again');
  }
}

/** Whether readdir reports file types (d_type) on the filesystem of dir. */
function supportsDirentType(dir: string): boolean {
  const probe = fs.mkdtempSync(path.join(dir, '.dtype-probe-'));
  try {
    fs.writeFileSync(path.join(probe, 'file'), '');
    const [entry] = fs.readdirSync(probe, { withFileTypes: true });
    return entry !== undefined && entry.isFile();
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

function kernelHasOverlay(): boolean {
  try {
    return /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** Runs in a user namespace when uid 0 is not mapped to the whole id range. */
function inUserNamespace(): boolean {
  try {
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

export function detectHostOverlayFeatures(): HostOverlayFeatures {
  return {
    indexParameterPresent: fs.existsSync(OVERLAY_INDEX_PARAMETER),
    inUserNamespace: inUserNamespace(),
  };
}
