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

import { RUNTIME_KINDS, type RuntimeKind } from '../../policy/policy-vocabulary';

export { RUNTIME_KINDS };
export type { RuntimeKind };

export function isOverlayMount(mount: OciMount): boolean {
  return mount.type === 'overlay';
}

export function hasOverlayMount(spec: OciSpec): boolean {
  return (spec.mounts ?? []).some(isOverlayMount);
}
