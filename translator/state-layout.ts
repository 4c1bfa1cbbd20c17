/**
 * Where translated spec mounts live under translation.state_dir, in one
 * place: <state_dir>/<container id>/<entry index>/merged. A tiny module, so
 * that tsov-runtime's pass-through path can use it without the translator.
 */
import path from 'node:path';

/** The directory holding a container's merged mount points (its existence marks translation state). */
export function containerStateDirectory(stateDir: string, containerId: string): string {
  return path.posix.join(stateDir, containerId);
}

/** Where the helper mounts an entry's merged view. */
export function mergedDirectory(stateDir: string, containerId: string, index: number): string {
  return path.posix.join(containerStateDirectory(stateDir, containerId), String(index), 'merged');
}
