/**
 * Builds the kernel overlay option data from a checked request: typed choices
 * become fixed option words, paths come from checkRequestShape-approved
 * values only. When the data would not fit one page (what mount(2) carries),
 * the lowers are given relative to their common parent and the mount runs
 * from that directory, as containerd does for long layer lists.
 */
import path from 'node:path';
import { buildOverlayOptions, type OverlayLayers } from '../../../common/overlay-mounts';
import type { OverlayChoices } from './mount-request';

/** mount(2) copies one page of option data. */
export const MOUNT_DATA_LIMIT = 4096;

export interface OverlayOptionPlan {
  /** The option data, comma-joined. */
  data: string;
  /** Directory to run mount(2) from when lowers are relative; undefined for absolute paths. */
  workingDirectory?: string;
}

/** The option words for the typed choices, in a fixed order. */
export function choiceOptions(choices: OverlayChoices): string[] {
  const options: string[] = [];
  if (choices.userxattr === true) options.push('userxattr');
  if (choices.index !== undefined) options.push(`index=${choices.index}`);
  if (choices.redirectDir !== undefined) options.push(`redirect_dir=${choices.redirectDir}`);
  if (choices.metacopy !== undefined) options.push(`metacopy=${choices.metacopy}`);
  if (choices.xino !== undefined) options.push(`xino=${choices.xino}`);
  if (choices.nfsExport !== undefined) options.push(`nfs_export=${choices.nfsExport}`);
  if (choices.volatile === true) options.push('volatile');
  return options;
}

function commonParent(paths: readonly string[]): string {
  let parent = path.posix.dirname(paths[0]!);
  while (!paths.every((p) => p.startsWith(parent === '/' ? '/' : `${parent}/`))) parent = path.posix.dirname(parent);
  return parent;
}

export class OptionDataTooLongError extends Error {}

export function planOverlayOptions(layers: OverlayLayers, choices: OverlayChoices, limit = MOUNT_DATA_LIMIT): OverlayOptionPlan {
  const absolute = buildOverlayOptions(layers, choiceOptions(choices)).join(',');
  if (absolute.length < limit) return { data: absolute };
  const parent = commonParent(layers.lowers);
  const relativeLowers = layers.lowers.map((lower) => (parent === '/' ? lower.slice(1) : lower.slice(parent.length + 1)));
  const relative = buildOverlayOptions({ ...layers, lowers: relativeLowers }, choiceOptions(choices)).join(',');
  if (relative.length >= limit) {
    throw new OptionDataTooLongError(
      `overlay option data is ${relative.length} bytes even with lowers relative to ${parent}; mount(2) carries at most ${limit - 1}: use shorter layer paths or fewer layers`,
    );
  }
  return { data: relative, workingDirectory: parent };
}
