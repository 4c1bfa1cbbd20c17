/**
 * Whether `tsov install` lists capabilities = ["remap-ids"] in
 * [proxy_plugins.tsov]. containerd's client reads it (GetSnapshotterCapabilities)
 * to decide whether a user-namespaced container gets the image's own layers,
 * idmapped, or a chowned copy; it must be there only where tsov can serve
 * idmapped layers: containerd 2.x (1.7 reads capabilities but its mount code
 * has no uidmap=/gidmap=, core/mount/mount_linux.go in 2.0+), and a kernel and
 * snapshotter root where tsov-helper's idmapped-lowers probe passes. The
 * probe is made by tsov-helper: the running one, or one started for it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnavailableError } from '../../common/errors';
import { socketAnswers } from '../../common/unix-socket';
import { HelperClient } from '../../helper/api/helper-client';
import { idmappedLayersSupport } from '../../helper/api/probe-report';

export const REMAP_IDS_CHOICES = ['auto', 'on', 'off'] as const;
export type RemapIdsChoice = (typeof REMAP_IDS_CHOICES)[number];
export const REMAP_IDS_CAPABILITY = 'remap-ids';

/** How long a helper started for the probe may take to serve its socket. */
const TEMPORARY_HELPER_START_MS = 20_000;

export interface RemapDecision {
  capabilities: string[];
  /** What install tells the operator. */
  line: string;
}

/** Pure: the capability from containerd's major version, the operator's --remap-ids and (auto) the probe's answer. */
export function decideRemapCapability(containerdMajor: number, choice: RemapIdsChoice, probe?: { ok: boolean; reason: string }): RemapDecision {
  const without = (why: string): RemapDecision => ({ capabilities: [], line: `remap-ids not listed: ${why}; user-namespaced containers get a chowned copy of their image from containerd` });
  if (containerdMajor < 2) return without(`containerd ${containerdMajor}.x cannot mount idmapped layers (its mount code has no uidmap=)`);
  if (choice === 'off') return without('--remap-ids off');
  if (choice === 'on') return { capabilities: [REMAP_IDS_CAPABILITY], line: 'remap-ids listed (--remap-ids on, not probed): user-namespaced containers share the image layers, idmapped' };
  if (probe === undefined) throw new Error('decideRemapCapability: auto needs the probe');
  if (!probe.ok) return without(probe.reason);
  return { capabilities: [REMAP_IDS_CAPABILITY], line: `remap-ids listed: ${probe.reason}; user-namespaced containers share the image layers, idmapped` };
}

/** Starts a tsov-helper on a private socket that may probe only root, for as long as use() runs. */
async function withTemporaryHelper<T>(helperMain: string, root: string, use: (client: HelperClient) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-install-probe-'));
  const socket = path.join(dir, 'run', 'helper.sock');
  fs.mkdirSync(path.dirname(socket), { mode: 0o700 });
  const child = spawn(process.execPath, [helperMain, '--socket', socket, '--state-dir', path.join(dir, 'state'), '--allowed-root', root, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const client = new HelperClient(socket);
  try {
    const deadline = Date.now() + TEMPORARY_HELPER_START_MS;
    while (!(fs.existsSync(socket) && (await socketAnswers(socket)))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tsov-helper, started to probe ${root}, did not serve: ${stderr.trim() || 'no output'}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return await use(client);
  } finally {
    client.close();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** tsov-helper's answer for root: asked of the helper at helperSocket, or of one started for it when none answers there. */
export async function probeIdmappedLayers(root: string, helperSocket: string, helperMain: string): Promise<{ ok: boolean; reason: string }> {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const running = new HelperClient(helperSocket);
  try {
    return idmappedLayersSupport(await running.probe(root));
  } catch (error) {
    if (!(error instanceof UnavailableError)) throw error;
  } finally {
    running.close();
  }
  return withTemporaryHelper(helperMain, root, async (client) => idmappedLayersSupport(await client.probe(root)));
}
