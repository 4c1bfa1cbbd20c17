/**
 * OCI bundles for running tsov-runtime against the real runc without
 * containerd: a busybox rootfs and a config.json made from runc's own default
 * spec (test/fixtures/runc-spec.json, `runc spec` with an unlimited
 * RLIMIT_CORE of 18446744073709551615 and an overlay entry), written as text
 * so that 64-bit numbers stay exact. Also the tsov-runtime invocation.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { buildBusyboxRootfs } from '../../harness/oci-image';
import type { OciMount } from '../../translator/spec/oci-spec';
import { REPO_ROOT } from './paths';

export const RLIM_INFINITY = '18446744073709551615';
const PLACEHOLDER = '"__rlim_infinity__"';

export interface BundleOptions {
  args: string[];
  mounts: OciMount[];
  annotations?: unknown;
  /** Changes the finished text (e.g. to append trailing data or rename a key). */
  edit?: (text: string) => string;
}

/** The fixture's spec with these args and extra mounts, as JSON text with exact 64-bit rlimits. */
export function specText(options: BundleOptions): string {
  const fixture = fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'runc-spec.json'), 'utf8').replaceAll(RLIM_INFINITY, PLACEHOLDER);
  const spec = JSON.parse(fixture) as { process: Record<string, unknown>; mounts: OciMount[]; annotations?: unknown; root: Record<string, unknown> };
  spec.process.terminal = false;
  spec.process.args = options.args;
  spec.root = { path: 'rootfs', readonly: false };
  spec.mounts = [...spec.mounts.filter((m) => m.type !== 'overlay'), ...options.mounts];
  if (options.annotations !== undefined) spec.annotations = options.annotations;
  const text = JSON.stringify(spec, null, 2).replaceAll(PLACEHOLDER, RLIM_INFINITY);
  return options.edit === undefined ? text : options.edit(text);
}

export function writeBundle(dir: string, options: BundleOptions): string {
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, 'rootfs'))) buildBusyboxRootfs(path.join(dir, 'rootfs'));
  fs.writeFileSync(path.join(dir, 'config.json'), specText(options));
  return dir;
}

export interface RuntimeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs tsov-runtime (with runc's state under runcRoot) and waits for it. */
export function runTsovRuntime(env: NodeJS.ProcessEnv, runcRoot: string, args: string[]): RuntimeRun {
  const result = spawnSync(RUNTIME_MAIN, ['--root', runcRoot, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
