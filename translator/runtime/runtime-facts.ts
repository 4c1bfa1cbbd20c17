/**
 * The few policy values every tsov-runtime call needs (the real runtime's
 * binary and kind, where translated mounts live), without loading the YAML
 * and schema libraries on each call: containerd runs the runtime several
 * times per container, and most calls are plain pass-through. The values are
 * cached in a small JSON file next to the mounts, keyed by the policy file's
 * path, size and modification time; any change to the policy reloads it.
 *
 * A second, line-based copy (`passthrough`) is for the shell part of
 * tsov-runtime.js, which passes calls straight to the real runtime without
 * starting Node: the policy file, the real runtime, translation.state_dir.
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
  writeAtomically(cache, JSON.stringify({ key, facts } satisfies CacheRecord));
}

/** The shell fast path's cache (see tsov-runtime.js): one per cache directory, naming its policy file. */
function passthroughFile(cacheDir: string): string {
  return path.join(cacheDir, 'passthrough');
}

/** Its content, or undefined when a value cannot be written on one line. Pure. */
export function passthroughContent(policyFile: string | undefined, facts: RuntimeFacts): string | undefined {
  const lines = [policyFile ?? '(defaults)', facts.binary, facts.stateDir];
  return lines.some((line) => line === '' || /[\n\r]/.test(line)) ? undefined : `${lines.join('\n')}\n`;
}

/**
 * Makes the pass-through cache say facts for policyFile, and be newer than
 * it (the shell trusts it only then). Leaves a current one alone.
 */
export function refreshPassthrough(cacheDir: string, policyFile: string | undefined, facts: RuntimeFacts): void {
  const content = passthroughContent(policyFile, facts);
  const file = passthroughFile(cacheDir);
  if (content === undefined) {
    fs.rmSync(file, { force: true });
    return;
  }
  try {
    const current = fs.readFileSync(file, 'utf8') === content && (policyFile === undefined || fs.statSync(file).mtimeMs > fs.statSync(policyFile).mtimeMs);
    if (current) return;
  } catch {
    // missing or unreadable: write it
  }
  writeAtomically(file, content);
}

function writeAtomically(file: string, content: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const temporary = `${file}.${process.pid}`;
    fs.writeFileSync(temporary, content, { mode: 0o644 });
    fs.renameSync(temporary, file);
  } catch {
    // a cache that cannot be written only costs time
  }
}
