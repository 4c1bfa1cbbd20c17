/**
 * The parts of an OCI runtime spec (config.json) tsov reads and rewrites.
 * Everything else in the document is carried through untouched.
 */

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  [field: string]: unknown;
}

export interface OciSpec {
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Annotations tsov adds to a spec it rewrote (tsov.dev/mount.<n>.*, tsov.dev/translated). */
export const ANNOTATION_PREFIX = 'tsov.dev/';
export const TRANSLATED_ANNOTATION = 'tsov.dev/translated';

/** runc, crun and runsc; which one decides what a spec overlay entry can become. */
export const RUNTIME_KINDS = ['runc', 'crun', 'runsc'] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];

export function isOverlayMount(mount: OciMount): boolean {
  return mount.type === 'overlay';
}

export function hasOverlayMount(spec: OciSpec): boolean {
  return (spec.mounts ?? []).some(isOverlayMount);
}
