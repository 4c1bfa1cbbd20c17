/**
 * Starting and stopping real tsov daemons (tsov-snapshotter, tsov-helper) for
 * tests, the demo and benchmarks. Ready means: something accepts connections
 * on the socket (grpc-js creates the file at bind(2), before listen(2)).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { socketAnswers } from '../common/unix-socket';
import { waitFor } from './wait';

/** Built entry points, from dist/harness/. */
export const SNAPSHOTTER_MAIN = path.resolve(__dirname, '..', 'snapshotter', 'main.js');
export const HELPER_MAIN = path.resolve(__dirname, '..', 'helper', 'service', 'main.js');
export const CLI_MAIN = path.resolve(__dirname, '..', 'cli', 'main.js');
/** tsov-runtime's entry point: a shell script that is also JavaScript (not compiled; it runs dist/translator/runtime/main.js). */
export const RUNTIME_MAIN = path.resolve(__dirname, '..', '..', 'translator', 'runtime', 'tsov-runtime.js');

export interface DaemonProcess {
  socket: string;
  process: ChildProcess;
  /** Output the process wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal and waits for the exit; resolves to the exit code (or the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts a tsov daemon (a built, executable entry point) and waits until it
 * serves its socket. It is run as systemd runs it, through its #! line, which
 * carries the daemon's node flags.
 */
function startDaemonProcess(name: string, main: string, socket: string, args: readonly string[]): Promise<DaemonProcess> {
  return startDaemonCommand(name, main, socket, args);
}

/** How long stop waits, after the process has exited, for the rest of its stderr. */
const STDERR_DRAIN_MS = 2_000;

/** Starts any daemon (e.g. the benchmark's Go reference proxy) and waits until it serves its socket. */
export async function startDaemonCommand(name: string, command: string, socket: string, args: readonly string[]): Promise<DaemonProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Resolved once the process has exited and its stderr has been read to the end: 'exit' can come
  // before the last lines it wrote (a daemon's "stopped"). A child it left holding the pipe open
  // is not waited for past STDERR_DRAIN_MS.
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      const result = code ?? signal ?? -1;
      if (child.stderr!.readableEnded) return resolve(result);
      const timer = setTimeout(() => resolve(result), STDERR_DRAIN_MS);
      child.stderr!.once('end', () => {
        clearTimeout(timer);
        resolve(result);
      });
    }),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? -1;
    child.kill(signal);
    return exited;
  };
  try {
    await waitFor(`${name} to serve ${socket}`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`);
      return fs.existsSync(socket) && socketAnswers(socket);
    });
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { socket, process: child, stderr: () => stderr, stop };
}

export interface SnapshotterProcess extends DaemonProcess {
  root: string;
}

export async function startSnapshotterProcess(root: string, socket: string, extraArgs: string[] = []): Promise<SnapshotterProcess> {
  const daemon = await startDaemonProcess('tsov-snapshotter', SNAPSHOTTER_MAIN, socket, ['--root', root, '--address', socket, ...extraArgs]);
  return { ...daemon, root };
}

export interface HelperProcessOptions {
  socket: string;
  stateDir: string;
  allowedRoots: readonly string[];
  extraArgs?: readonly string[];
}

export function startHelperProcess(options: HelperProcessOptions): Promise<DaemonProcess> {
  fs.mkdirSync(path.dirname(options.socket), { recursive: true, mode: 0o700 });
  return startDaemonProcess('tsov-helper', HELPER_MAIN, options.socket, [
    '--socket',
    options.socket,
    '--state-dir',
    options.stateDir,
    ...options.allowedRoots.flatMap((root) => ['--allowed-root', root]),
    ...(options.extraArgs ?? []),
  ]);
}
