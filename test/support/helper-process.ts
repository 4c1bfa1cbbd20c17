/**
 * A real tsov-helper (harness/daemon-process.ts) in a test's temporary
 * directory, with a client; stopped in the teardown whatever happens. The
 * temporary directory's teardown unmounts anything left below it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { startHelperProcess, type DaemonProcess } from '../../harness/daemon-process';
import { HelperClient } from '../../helper/api/helper-client';
import { withClient } from './daemon-fixture';

export interface RunningHelper extends DaemonProcess {
  client: HelperClient;
  stateDir: string;
  /** The first allowed root (tests put their layers there). */
  root: string;
}

export interface HelperLayout {
  socket: string;
  stateDir: string;
  roots: string[];
}

/** As long as ava lets a test run (package.json, ava.timeout: 10m). */
const TEST_CLIENT_TIMEOUT_SECONDS = 600;

/** Socket, state and one allowed root inside base. */
export function helperLayout(base: string): HelperLayout {
  const roots = [path.join(base, 'roots')];
  for (const root of roots) fs.mkdirSync(root, { recursive: true });
  return { socket: path.join(base, 'run', 'helper.sock'), stateDir: path.join(base, 'state'), roots };
}

export async function startHelper(t: ExecutionContext, layout: HelperLayout, logLevel = 'warn', extraArgs: string[] = []): Promise<RunningHelper> {
  const running = await startHelperProcess({ socket: layout.socket, stateDir: layout.stateDir, allowedRoots: layout.roots, extraArgs: ['--log-level', logLevel, ...extraArgs] });
  // The tests' own client: tests that run tsov-runtime with spawnSync stop the ava worker's
  // loop for seconds at a time, ten tests at once, so a call's time limit would count their
  // runs too (test/integration/helper-deadline.test.ts tests the limit itself).
  return { ...withClient(t, running, new HelperClient(layout.socket, { timeoutSeconds: TEST_CLIENT_TIMEOUT_SECONDS })), stateDir: layout.stateDir, root: layout.roots[0] ?? '' };
}

/**
 * A policy for tsov-runtime over this helper: the runtime it wraps, and the
 * translation state below the first allowed root (returned as stateDir).
 */
export function runtimePolicy(layout: HelperLayout, runtime: { kind: string; binary: string }, extraPolicy = ''): { text: string; stateDir: string } {
  const root = layout.roots[0]!;
  const stateDir = path.join(root, 'mounts');
  const text = `helper:
  socket: ${layout.socket}
  state_dir: ${layout.stateDir}
  allowed_roots: [${root}]
runtime:
  kind: ${runtime.kind}
  binary: ${runtime.binary}
translation:
  state_dir: ${stateDir}
${extraPolicy}`;
  return { text, stateDir };
}

/** mkdir -p for each path, returning them. */
export function makeDirs(...dirs: string[]): string[] {
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
  return dirs;
}
