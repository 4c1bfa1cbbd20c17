/**
 * Label rules, as containerd's labels.Validate and its bolt store apply them:
 * a key with its value may take at most 4096 bytes, and a label whose value is
 * empty is not stored (setting a label to "" deletes it).
 */
import { InvalidArgumentError } from '../common/errors';
import type { Labels } from './snapshot-model';

export const MAX_LABEL_BYTES = 4096;

export function validateLabels(labels: Labels): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key === '') throw new InvalidArgumentError('label key must not be empty');
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (bytes > MAX_LABEL_BYTES) {
      throw new InvalidArgumentError(
        `label ${JSON.stringify(key.slice(0, 64))}: key and value length (${bytes} bytes) greater than maximum size (${MAX_LABEL_BYTES} bytes)`,
      );
    }
  }
}

/** The labels as stored: empty values dropped. */
export function storedLabels(labels: Labels): Labels {
  return Object.fromEntries(Object.entries(labels).filter(([, value]) => value !== ''));
}

/**
 * containerd's Update semantics: no field paths replace all labels; `labels`
 * replaces all; `labels.<key>` sets (or, with an empty value, deletes) one
 * label. Any other path names an immutable field.
 */
export function applyLabelUpdate(current: Labels, requested: Labels, fieldpaths: readonly string[], name: string): Labels {
  if (fieldpaths.length === 0) return storedLabels(requested);
  let updated: Labels = { ...current };
  for (const fieldpath of fieldpaths) {
    if (fieldpath === 'labels') {
      updated = { ...requested };
    } else if (fieldpath.startsWith('labels.')) {
      const key = fieldpath.slice('labels.'.length);
      updated[key] = requested[key] ?? '';
    } else {
      throw new InvalidArgumentError(`cannot update ${JSON.stringify(fieldpath)} field on snapshot ${JSON.stringify(name)}: only labels and labels.<key> may change`);
    }
  }
  return storedLabels(updated);
}
