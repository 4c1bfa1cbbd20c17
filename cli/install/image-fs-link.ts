/**
 * containerd 1.6's CRI plugin reports the image filesystem of a snapshotter as
 * `<containerd root>/io.containerd.snapshotter.v1.<name>` (pkg/cri/server
 * imageFSPath) and ignores a proxy plugin's `exports.root`, so for a proxy
 * snapshotter ImageFsInfo names a directory that does not exist and kubelet's
 * image garbage collection and eviction cannot measure it (kubelet stats the
 * path, following links). tsov install on 1.6 makes that path a link to tsov's
 * root; 1.7+ read `exports.root` instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../../common/errors';

export const DEFAULT_CONTAINERD_ROOT = '/var/lib/containerd';

/** The `root` a containerd config sets (a top-level key, before any table), or containerd's default. Pure. */
export function containerdRootOf(text: string): string {
  const topLevel = text.split(/^\s*\[/m)[0] ?? '';
  const match = /^\s*root\s*=\s*(?:"([^"\n]*)"|'([^'\n]*)')\s*(?:#.*)?$/m.exec(topLevel);
  return match?.[1] ?? match?.[2] ?? DEFAULT_CONTAINERD_ROOT;
}

/** Where containerd 1.6's ImageFsInfo looks for the tsov snapshotter's filesystem. Pure. */
export function imageFsPath(containerdRoot: string): string {
  return path.join(containerdRoot, 'io.containerd.snapshotter.v1.tsov');
}

export type LinkOutcome = 'linked' | 'kept';

/** Makes link point at target; an existing link to target is kept, anything else there is refused. */
export function linkImageFilesystem(link: string, target: string): LinkOutcome {
  const existing = fs.lstatSync(link, { throwIfNoEntry: false });
  if (existing?.isSymbolicLink() && fs.readlinkSync(link) === target) return 'kept';
  if (existing !== undefined) throw new StartupError(`${link} exists and is not a link to ${target}; containerd 1.6's CRI reports it as tsov's image filesystem: remove it, or leave kubelet unable to measure it`);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(target, link);
  return 'linked';
}

/** Removes the link if it is tsov's (points at target); true when removed. */
export function unlinkImageFilesystem(link: string, target: string): boolean {
  const existing = fs.lstatSync(link, { throwIfNoEntry: false });
  if (!existing?.isSymbolicLink() || fs.readlinkSync(link) !== target) return false;
  fs.unlinkSync(link);
  return true;
}
