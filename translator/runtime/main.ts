#!/usr/bin/env node
/**
 * tsov-runtime: an OCI runtime with runc's command line, installed in place
 * of runc (`ctr run --runc-binary`, containerd's BinaryName).
 *
 *   create / run  translate <bundle>/config.json (type: overlay entries become
 *                 binds of mounts made by tsov-helper), then run the real runtime
 *   delete        run the real runtime, then release what the translation mounted
 *   anything else straight to the real runtime
 *
 * The policy comes from $TSOV_CONFIG, else /etc/tsov/config.yaml, else the
 * defaults. On failure it releases what it mounted and exits 1 with one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../../common/errors';
import { loadPolicy, type Policy } from '../../policy/load-policy';
import { HelperClient } from '../helper/service/helper-client';
import { isOverlayMount } from '../spec/oci-spec';
import { hasContainerMounts, mountForContainer, releaseForContainer } from './container-mounts';
import { DEFAULT_STATE_ROOTS, parseRuntimeArgs, type RuntimeArgs } from './runtime-args';
import { runRealRuntime } from './run-real-runtime';
import { BundleSpec } from './spec-file';

const DEFAULT_POLICY_FILE = '/etc/tsov/config.yaml';

function policyFile(): string | undefined {
  if (process.env.TSOV_CONFIG) return process.env.TSOV_CONFIG;
  return fs.existsSync(DEFAULT_POLICY_FILE) ? DEFAULT_POLICY_FILE : undefined;
}

/** One line on stderr, and in runc's log file (JSON when asked) where containerd looks for the reason. */
function reportFailure(args: RuntimeArgs, message: string): void {
  const line = `tsov-runtime: ${message.replace(/\n/g, '; ')}`;
  process.stderr.write(`${line}\n`);
  if (args.logFile === undefined) return;
  const entry = args.logFormat === 'json' ? JSON.stringify({ level: 'error', msg: line, time: new Date().toISOString() }) : `time="${new Date().toISOString()}" level=error msg="${line.replace(/"/g, '\\"')}"`;
  try {
    fs.appendFileSync(args.logFile, `${entry}\n`);
  } catch {
    // the log is a courtesy; stderr has the line
  }
}

function stateRoot(args: RuntimeArgs, policy: Policy): string {
  return args.root ?? policy.runtime.root ?? DEFAULT_STATE_ROOTS[policy.runtime.kind];
}

async function create(argv: string[], args: RuntimeArgs, policy: Policy): Promise<number> {
  const id = args.containerId;
  if (id === undefined) return runRealRuntime(policy.runtime.binary, argv, args.preserveFds);
  const bundle = new BundleSpec(path.resolve(args.bundle ?? process.cwd()));
  const original = bundle.readOriginal();
  if (!(original.mounts ?? []).some(isOverlayMount)) return runRealRuntime(policy.runtime.binary, argv, args.preserveFds);

  const client = new HelperClient(policy.helper.socket);
  try {
    const translation = await mountForContainer(
      original,
      { containerId: id, policy: policy.translation, runtime: policy.runtime, ownerAlivePath: path.join(stateRoot(args, policy), id) },
      client,
    );
    bundle.writeTranslated(original, translation.spec);
    const status = await runRealRuntime(policy.runtime.binary, argv, args.preserveFds);
    if (status !== 0) {
      await releaseForContainer(id, policy.translation, client).catch(() => undefined);
      bundle.restore();
    }
    return status;
  } finally {
    client.close();
  }
}

async function remove(argv: string[], args: RuntimeArgs, policy: Policy): Promise<number> {
  const status = await runRealRuntime(policy.runtime.binary, argv, args.preserveFds);
  const id = args.containerId;
  if (id === undefined || !hasContainerMounts(policy.translation, id)) return status;
  // Release when the container is gone: deleted now, or never created, or already deleted.
  if (status !== 0 && fs.existsSync(path.join(stateRoot(args, policy), id))) return status;
  const client = new HelperClient(policy.helper.socket);
  try {
    await releaseForContainer(id, policy.translation, client);
  } catch (error) {
    reportFailure(args, `the container is deleted but its overlay mounts were not released (${(error as Error).message}); tsov-helper releases them at its next start, or run \`tsov mounts --owner ${id}\``);
    return status === 0 ? 1 : status;
  } finally {
    client.close();
  }
  return status;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = parseRuntimeArgs(argv);
  let policy: Policy;
  try {
    policy = loadPolicy(policyFile());
  } catch (error) {
    reportFailure(args, (error as Error).message);
    return 1;
  }
  try {
    switch (args.command) {
      case 'create':
      case 'run':
        return await create(argv, args, policy);
      case 'delete':
        return await remove(argv, args, policy);
      default:
        return await runRealRuntime(policy.runtime.binary, argv, args.preserveFds);
    }
  } catch (error) {
    const code = errnoCode(error);
    reportFailure(args, code === undefined ? (error as Error).message : `${(error as Error).message} (${code})`);
    return 1;
  }
}

main().then((status) => process.exit(status));
