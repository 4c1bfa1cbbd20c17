/**
 * Starting and stopping a real tsov-snapshotter process, for tests, the demo
 * and benchmarks. Ready means: something accepts connections on the socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { socketAnswers } from '../common/unix-socket';
import { waitFor } from './wait';

/** dist/snapshotter/main.js, from dist/harness/. */
export const SNAPSHOTTER_MAIN = path.resolve(__dirname, '..', 'snapshotter', 'main.js');

export interface SnapshotterProcess {
  root: string;
  socket: string;
  process: ChildProcess;
  /** Output the process wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal and waits for the exit; resolves to the exit code (or the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startSnapshotterProcess(root: string, socket: string, extraArgs: string[] = []): Promise<SnapshotterProcess> {
  const child = spawn(process.execPath, [SNAPSHOTTER_MAIN, '--root', root, '--address', socket, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? -1;
    child.kill(signal);
    return exited;
  };
  try {
    await waitFor(`tsov-snapshotter to serve ${socket}`, async () => {
      if (child.exitCode !== null) throw new Error(`tsov-snapshotter exited with ${child.exitCode}: ${stderr}`);
      return fs.existsSync(socket) && socketAnswers(socket);
    });
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { root, socket, process: child, stderr: () => stderr, stop };
}
