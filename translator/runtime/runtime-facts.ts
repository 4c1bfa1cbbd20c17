/**
 * The few policy values every tsov-runtime call needs (the real runtime's
 * binary and kind, where translated mounts live), without loading the YAML
 * and schema libraries on each call: containerd runs the runtime several
 * times per container, and most calls are plain pass-through. The values are
 * cached in a small JSON file next to the mounts, keyed by the SHA-256 of the
 * policy file's content: any change to what the policy says reloads it,
 * whatever its modification time (`cp -p`, `rsync -a` and packages keep old
 * mtimes).
 *
 * A second, line-based copy (`passthrough`) is for the shell part of
 * tsov-runtime.js, which passes calls straight to the real runtime without
 * starting Node: the policy file, its SHA-256 (the shell compares it with
 * `sha256sum`), the real runtime, translation.state_dir.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomically } from '../../common/atomic-file';
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

/** The policy's content digest: SHA-256 hex, "(defaults)" without a file, undefined when it cannot be read. */
export function policyDigest(policyFile: string | undefined): string | undefined {
  if (policyFile === undefined) return '(defaults)';
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(policyFile)).digest('hex');
  } catch {
    return undefined;
  }
}

function policyKey(policyFile: string | undefined): string | undefined {
  const digest = policyDigest(policyFile);
  return digest === undefined ? undefined : `${policyFile ?? '(defaults)'}:${digest}`;
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
  writeCache(cache, JSON.stringify({ key, facts } satisfies CacheRecord));
}

/** The shell fast path's cache (see tsov-runtime.js): one per cache directory, naming its policy file. */
function passthroughFile(cacheDir: string): string {
  return path.join(cacheDir, 'passthrough');
}

/** Its content, or undefined when a value cannot be written on one line. Pure. */
export function passthroughContent(policyFile: string | undefined, digest: string, facts: RuntimeFacts): string | undefined {
  const lines = [policyFile ?? '(defaults)', digest, facts.binary, facts.stateDir];
  return lines.some((line) => line === '' || /[\n\r]/.test(line)) ? undefined : `${lines.join('\n')}\n`;
}

/** Makes the pass-through cache say facts for policyFile as its content is now. Leaves a current one alone. */
export function refreshPassthrough(cacheDir: string, policyFile: string | undefined, facts: RuntimeFacts): void {
  const digest = policyDigest(policyFile);
  const content = digest === undefined ? undefined : passthroughContent(policyFile, digest, facts);
  const file = passthroughFile(cacheDir);
  if (content === undefined) {
    fs.rmSync(file, { force: true });
    return;
  }
  try {
    if (fs.readFileSync(file, 'utf8') === content) return;
  } catch {
    // missing or unreadable: write it
  }
  writeCache(file, content);
}

/** A cache that cannot be written only costs time. */
function writeCache(file: string, content: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    writeFileAtomically(file, content, 0o644);
  } catch {
    // the next call reads the policy again
  }
}
