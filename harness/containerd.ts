/**
 * A private containerd for tests, the demo and benchmarks: its own config,
 * root, state and socket (never the system's), with tsov configured as a proxy
 * snapshotter. stop() ends it and its shims and removes every mount below its
 * directory; callers run it also when they failed.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { unmountAllUnder } from './mounts';
import { waitFor } from './wait';

const execFileAsync = promisify(execFile);

export interface PrivateContainerd {
  dir: string;
  address: string;
  logFile: string;
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

export function containerdConfig(dir: string, tsovSocket: string, otherSnapshotters: Readonly<Record<string, string>> = {}): string {
  const others = Object.entries(otherSnapshotters).map(([name, address]) => `  [proxy_plugins.${name}]\n    type = "snapshot"\n    address = "${address}"\n`);
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[proxy_plugins]
  [proxy_plugins.tsov]
    type = "snapshot"
    address = "${tsovSocket}"
${others.join('')}`;
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
  /** Extra environment for containerd, which its shims and runtimes inherit (e.g. TSOV_CONFIG for tsov-runtime). */
  env?: NodeJS.ProcessEnv;
  /** More proxy snapshotters, name → socket (the benchmark's reference proxy). */
  otherSnapshotters?: Readonly<Record<string, string>>;
}

export async function startContainerd(dir: string, tsovSocket: string, options: ContainerdOptions = {}): Promise<PrivateContainerd> {
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'config.toml');
  const address = path.join(dir, 'containerd.sock');
  const logFile = path.join(dir, 'containerd.log');
  fs.writeFileSync(configFile, containerdConfig(dir, tsovSocket, options.otherSnapshotters));
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn('containerd', ['--config', configFile, '--log-level', 'info'], { stdio: ['ignore', log, log], env: { ...process.env, ...options.env } });
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
      const { stdout } = await execFileAsync('ctr', ['--address', address, ...args], {
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
      return fs.existsSync(address) && spawnSync('ctr', ['--address', address, 'version'], { timeout: 5000 }).status === 0;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, address, logFile, ctr, runCaptured, stop };
}
