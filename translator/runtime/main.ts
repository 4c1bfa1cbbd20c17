#!/usr/bin/env node
/**
 * tsov-runtime: an OCI runtime with runc's command line, installed in place
 * of runc (`ctr run --runc-binary`, containerd's BinaryName). The installed
 * entry point is tsov-runtime.js, whose shell part passes most calls to the
 * real runtime without starting Node; this is the rest.
 *
 *   create / run  translate <bundle>/config.json (type: overlay entries become
 *                 binds of mounts made by tsov-helper), then run the real runtime
 *   delete        run the real runtime, then release what the translation mounted
 *   anything else straight to the real runtime
 *
 * The policy comes from $TSOV_CONFIG, else /etc/tsov/config.yaml, else the
 * defaults. On failure it releases what it mounted and exits 1 with one line.
 *
 * Most calls are plain pass-through, so this file loads only what those need;
 * the translation path (YAML, schema, gRPC) is loaded when a spec has overlay
 * entries or a deleted container had mounts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, TsovError } from '../../common/errors';
import { hasOverlayMount } from '../spec/oci-spec';
import { cacheFile, readCachedFacts, refreshPassthrough, writeCachedFacts, type RuntimeFacts } from './runtime-facts';
import { DEFAULT_STATE_ROOTS, parseRuntimeArgs, type RuntimeArgs } from './runtime-args';
import { reportFailure } from './report-failure';
import { runRealRuntime } from './run-real-runtime';
import { BundleSpec } from './spec-file';
import { containerStateDirectory } from '../state-layout';
import { DEFAULT_POLICY_FILE, DEFAULT_RUNTIME_CACHE_DIR } from '../../policy/defaults';

const FACTS_CACHE_DIR = process.env.TSOV_RUNTIME_CACHE ?? DEFAULT_RUNTIME_CACHE_DIR;

function policyFile(): string | undefined {
  if (process.env.TSOV_CONFIG) return process.env.TSOV_CONFIG;
  return fs.existsSync(DEFAULT_POLICY_FILE) ? DEFAULT_POLICY_FILE : undefined;
}

/**
 * The policy's runtime facts, from the cache when it is current. remember:
 * write the caches. Calls about no container (containerd 2.x runs `features`
 * of every runtime handler at each start, pods or not; `--version`, `help`)
 * only read: they pass through without writing below the cache directory.
 */
async function loadFacts(file: string | undefined, remember: boolean): Promise<RuntimeFacts> {
  const cache = cacheFile(FACTS_CACHE_DIR, file);
  let facts = readCachedFacts(cache, file);
  if (facts === undefined) {
    const { loadPolicy } = await import('../../policy/load-policy');
    const policy = loadPolicy(file);
    facts = { binary: policy.runtime.binary, kind: policy.runtime.kind, root: policy.runtime.root, stateDir: policy.translation.stateDir };
    if (remember) writeCachedFacts(cache, file, facts);
  }
  // The next calls of this policy can take tsov-runtime.js's shell fast path.
  if (remember) refreshPassthrough(FACTS_CACHE_DIR, file, facts);
  return facts;
}

/** runc's validateID (libcontainer): letters, digits, '_', '+', '-' and '.', and not "." or "..". Pure. */
export function isValidContainerId(id: string): boolean {
  return /^[A-Za-z0-9_+.-]+$/.test(id) && id !== '.' && id !== '..';
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args: RuntimeArgs = parseRuntimeArgs(argv);
  const file = policyFile();
  let facts: RuntimeFacts;
  try {
    facts = await loadFacts(file, args.containerId !== undefined);
  } catch (error) {
    reportFailure(args, (error as Error).message);
    return 1;
  }
  const stateRoot = args.root ?? facts.root ?? DEFAULT_STATE_ROOTS[facts.kind];
  const id = args.containerId;
  try {
    if ((args.command === 'create' || args.command === 'run') && id !== undefined) {
      const bundle = new BundleSpec(path.resolve(args.bundle ?? process.cwd()));
      // A missing spec is the real runtime's to report; one tsov cannot read as the runtime would is refused here.
      if (fs.existsSync(bundle.file) && hasOverlayMount(bundle.readOriginal().spec)) {
        if (!isValidContainerId(id)) throw new InvalidArgumentError(`container id ${JSON.stringify(id)} is not valid: runc allows letters, digits, '_', '+', '-' and '.', and not "." or ".."`);
        const { createWithOverlays } = await import('./create-with-overlays');
        return await createWithOverlays({ argv, args, file, bundle, containerId: id, ownerAlivePath: path.join(stateRoot, id) });
      }
    }
    const status = await runRealRuntime(facts.binary, argv, args.preserveFds);
    // An id runc refuses names no state of tsov's: never look it up (delete ../x must not reach outside state_dir).
    if (args.command === 'delete' && id !== undefined && isValidContainerId(id) && fs.existsSync(containerStateDirectory(facts.stateDir, id))) {
      // Release when the container is gone: deleted now, never created, or deleted before.
      if (status !== 0 && fs.existsSync(path.join(stateRoot, id))) return status;
      const { releaseAfterDelete } = await import('./create-with-overlays');
      return await releaseAfterDelete({ args, file, containerId: id, status });
    }
    return status;
  } catch (error) {
    reportFailure(args, error instanceof TsovError || error instanceof Error ? error.message : String(error));
    return 1;
  }
}

main().then((status) => process.exit(status));
