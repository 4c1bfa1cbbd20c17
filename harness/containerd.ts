/**
 * A private containerd for tests, the demo and benchmarks: its own config,
 * root, state and socket (never the system's), with tsov configured as a proxy
 * snapshotter, of a chosen release (harness/containerd-versions.ts). stop()
 * ends it and its shims and removes every mount below its directory; callers
 * run it also when they failed. TSOV_TEST_CONTAINERD_LOG_LEVEL (default info)
 * sets its log level: `trace` shows the garbage collector's runs.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { unpackConfigTables } from '../cli/install/containerd-config';
import { unmountAllUnder } from './mounts';
import { containerdRelease, pathFor, type ContainerdRelease, type ContainerdVersion } from './containerd-versions';
import { waitFor } from './wait';

const execFileAsync = promisify(execFile);

export interface PrivateContainerd {
  dir: string;
  address: string;
  logFile: string;
  release: ContainerdRelease;
  /** The namespace ctr() works in (CONTAINERD_NAMESPACE; `-n` in args overrides it). */
  namespace: string;
  /** Runs ctr against this containerd; rejects with ctr's stderr on failure. */
  ctr(args: string[], options?: { timeoutMs?: number }): Promise<string>;
  /**
   * `ctr run --rm [runOptions] IMAGE ID COMMAND...` and what COMMAND wrote to
   * stdout and stderr. The output travels through a file on a bind mount, not
   * ctr's pipes: ctr can lose the output of a container that exits at once
   * (seen here under load). The image needs /bin/sh.
   */
  runCaptured(id: string, image: string, command: string[], runOptions?: string[], options?: { timeoutMs?: number }): Promise<string>;
  /** Stops containerd and its shims and unmounts everything below dir. */
  stop(): Promise<void>;
}

/** containerd's plugins a test containerd does without (CRI unless asked for, and snapshotters this host lacks). */
const DISABLED_PLUGINS: Readonly<Record<2 | 3, readonly string[]>> = {
  2: ['io.containerd.grpc.v1.cri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.aufs'],
  3: ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.erofs'],
};

/** The top-level keys that keep a containerd's files and socket inside dir. */
export function privatePlaceKeys(dir: string): string {
  return `root = "${dir}/root"
state = "${dir}/state"

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
`;
}

/** A test containerd's config: no CRI, tsov (with the given capabilities, and the given others) as proxy snapshotters. */
export function containerdConfig(release: ContainerdRelease, dir: string, tsovSocket: string, otherSnapshotters: Readonly<Record<string, string>> = {}, tsovCapabilities: readonly string[] = []): string {
  const proxies = { tsov: tsovSocket, ...otherSnapshotters };
  const capabilities = (name: string) => (name === 'tsov' && tsovCapabilities.length > 0 ? `    capabilities = ${JSON.stringify(tsovCapabilities)}\n` : '');
  const tables = Object.entries(proxies).map(([name, address]) => `  [proxy_plugins.${name}]\n    type = "snapshot"\n    address = "${address}"\n${capabilities(name)}`);
  const disabled = DISABLED_PLUGINS[release.configVersion].map((name) => `"${name}"`).join(', ');
  const transfer = release.configVersion === 3 ? `\n${unpackConfigTables(['overlayfs', ...Object.keys(proxies)])}` : '';
  return `version = ${release.configVersion}
disabled_plugins = [${disabled}]
${privatePlaceKeys(dir)}
[proxy_plugins]
${tables.join('')}${transfer}`;
}

/** Kills the shims this containerd started (they outlive it by design). */
function killShims(address: string): void {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('containerd-shim') && cmdline.includes(address)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export interface ContainerdOptions {
  /** Which release (default 1.6, the system's). */
  version?: ContainerdVersion;
  /**
   * ctr's namespace (default: one of this containerd's own). Runtimes keep
   * their state per namespace below /run/containerd/runc whatever containerd's
   * state dir, so containerds running side by side need distinct ones.
   */
  namespace?: string;
  /** The whole config instead of the generated one (the CRI tests' deploy/ files); it must keep the files below dir. */
  configText?: string;
  /** Extra environment for containerd, which its shims and runtimes inherit (e.g. TSOV_CONFIG for tsov-runtime). */
  env?: NodeJS.ProcessEnv;
  /** More proxy snapshotters, name → socket (the benchmark's reference proxy). */
  otherSnapshotters?: Readonly<Record<string, string>>;
  /** capabilities = [...] of [proxy_plugins.tsov] (containerd >= 1.7.23 reads them), e.g. ["remap-ids"]. */
  tsovCapabilities?: readonly string[];
}

export async function startContainerd(dir: string, tsovSocket: string, options: ContainerdOptions = {}): Promise<PrivateContainerd> {
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'config.toml');
  const address = path.join(dir, 'containerd.sock');
  const logFile = path.join(dir, 'containerd.log');
  const release = containerdRelease(options.version ?? '1.6');
  const namespace = options.namespace ?? `tsov-${path.basename(path.dirname(dir))}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-');
  const env = { ...process.env, ...options.env, PATH: pathFor(release), CONTAINERD_NAMESPACE: namespace };
  fs.writeFileSync(configFile, options.configText ?? containerdConfig(release, dir, tsovSocket, options.otherSnapshotters, options.tsovCapabilities));
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(path.join(release.binDir, 'containerd'), ['--config', configFile, '--log-level', process.env.TSOV_TEST_CONTAINERD_LOG_LEVEL ?? 'info'], { stdio: ['ignore', log, log], env });
  const ctrBinary = path.join(release.binDir, 'ctr');
  fs.closeSync(log);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    killShims(address);
    unmountAllUnder(dir);
  };
  const ctr = async (args: string[], options: { timeoutMs?: number } = {}) => {
    try {
      const { stdout } = await execFileAsync(ctrBinary, ['--address', address, ...args], {
        env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`ctr ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
  const outputDir = path.join(dir, 'run-output');
  const runCaptured = async (id: string, image: string, command: string[], runOptions: string[] = [], options: { timeoutMs?: number } = {}) => {
    fs.mkdirSync(outputDir, { recursive: true });
    // World-writable: a user-namespaced container's root (host uid 100000, say) writes its output here too.
    fs.chmodSync(outputDir, 0o777);
    const file = path.join(outputDir, id);
    const captured = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    const args = ['run', '--rm', ...runOptions, '--mount', `type=bind,src=${outputDir},dst=/.tsov-output,options=rbind:rw`, image, id];
    try {
      await ctr([...args, '/bin/sh', '-c', `exec >/.tsov-output/${id} 2>&1; exec "$@"`, 'sh', ...command], options);
    } catch (error) {
      throw new Error(`${(error as Error).message}\ncontainer output: ${captured()}`);
    }
    return captured();
  };
  try {
    await waitFor('containerd to answer', () => {
      if (child.exitCode !== null) throw new Error(`containerd exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      return fs.existsSync(address) && spawnSync(ctrBinary, ['--address', address, 'version'], { timeout: 5000, env }).status === 0;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, address, logFile, release, namespace, ctr, runCaptured, stop };
}
