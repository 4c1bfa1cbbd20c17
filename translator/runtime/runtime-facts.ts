/**
 * The few policy values every tsov-runtime call needs (the real runtime's
 * binary and kind, where translated mounts live), without loading the YAML
 * and schema libraries on each call: containerd runs the runtime several
 * times per container, and most calls are plain pass-through. The values are
 * cached in a small JSON file next to the mounts, keyed by the policy file's
 * path, size and modification time; any change to the policy reloads it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RuntimeKind } from '../spec/oci-spec';

export interface RuntimeFacts {
  binary: string;
  kind: RuntimeKind;
  /** runtime.root from the policy, if set. */
  root?: string;
  /** translation.state_dir */
  stateDir: string;
}

interface CacheRecord {
  key: string;
  facts: RuntimeFacts;
}

/** Where the cache for a policy file lives (one per policy path). */
export function cacheFile(cacheDir: string, policyFile: string | undefined): string {
  const name = crypto.createHash('sha256').update(policyFile ?? '(defaults)').digest('hex').slice(0, 16);
  return path.join(cacheDir, `runtime-facts-${name}.json`);
}

function policyKey(policyFile: string | undefined): string | undefined {
  if (policyFile === undefined) return '(defaults)';
  try {
    const stat = fs.statSync(policyFile);
    return `${policyFile}:${stat.size}:${stat.mtimeMs}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

export function readCachedFacts(cache: string, policyFile: string | undefined): RuntimeFacts | undefined {
  const key = policyKey(policyFile);
  if (key === undefined) return undefined;
  try {
    const record = JSON.parse(fs.readFileSync(cache, 'utf8')) as CacheRecord;
    return record.key === key ? record.facts : undefined;
  } catch {
    return undefined;
  }
}

export function writeCachedFacts(cache: string, policyFile: string | undefined, facts: RuntimeFacts): void {
  const key = policyKey(policyFile);
  if (key === undefined) return;
  try {
    fs.mkdirSync(path.dirname(cache), { recursive: true, mode: 0o755 });
    const temporary = `${cache}.${process.pid}`;
    fs.writeFileSync(temporary, JSON.stringify({ key, facts } satisfies CacheRecord), { mode: 0o644 });
    fs.renameSync(temporary, cache);
  } catch {
    // a cache that cannot be written only costs time
  }
}
