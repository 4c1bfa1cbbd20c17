/**
 * The typed request tsov-helper accepts for an overlay mount. Option choices
 * are typed fields, never option strings: the helper builds the kernel's
 * option words itself, from the option table (overlay-options.ts).
 */

export const BACKENDS = ['kernel', 'fuse', 'memory', 'auto'] as const;
export type Backend = (typeof BACKENDS)[number];
/** What auto becomes once the helper has chosen. */
export type ResolvedBackend = Exclude<Backend, 'auto'>;

export type { OverlayChoices } from './overlay-options';
import type { OverlayChoices } from './overlay-options';
import type { IdMapping } from '../../common/id-mapping';

export interface OverlayMountRequest {
  /** Who the mount belongs to (container id); Unmount must name the same owner. */
  owner: string;
  /** Lower directories, topmost first. */
  lowers: string[];
  upper?: string;
  work?: string;
  /** Where the overlay is mounted. */
  target: string;
  backend: Backend;
  choices: OverlayChoices;
  /** Size of the tmpfs for backend memory, in bytes. */
  memoryBytes?: number;
  /** The owner exists while this path exists (checked when the helper starts). */
  ownerAlivePath?: string;
  /** Or while this process lives. */
  ownerPid?: number;
  /**
   * The container's user namespace: the lowers are idmapped to it (its root
   * sees files the lowers hold as uid 0 as its own, and copies them up as
   * such), the upper is not, so its writes land there with its host ids.
   */
  idMapping?: IdMapping;
}

/** The kernel's limit on lower layers (OVL_MAX_STACK). */
export const MAX_LOWERS = 500;
