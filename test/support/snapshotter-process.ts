/**
 * Starting and stopping a real tsov-snapshotter process for tests. The process
 * is killed in the test's teardown whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { SNAPSHOTTER_MAIN } from './paths';
import { SnapshotsClient } from './snapshots-client';
import { waitFor } from './wait';

export interface RunningSnapshotter {
  root: string;
  socket: string;
  process: ChildProcess;
  client: SnapshotsClient;
  /** Output the process wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal and waits for the exit; resolves to the exit code (or the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startSnapshotter(t: ExecutionContext, root: string, socket = path.join(root, 'tsov.sock'), extraArgs: string[] = []): Promise<RunningSnapshotter> {
  const child = spawn(process.execPath, [SNAPSHOTTER_MAIN, '--root', root, '--address', socket, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let clientRef: SnapshotsClient | undefined;
  t.teardown(() => {
    clientRef?.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(`tsov-snapshotter to serve ${socket}`, async () => {
    if (child.exitCode !== null) throw new Error(`tsov-snapshotter exited with ${child.exitCode}: ${stderr}`);
    return fs.existsSync(socket) && socketAccepts(socket);
  });
  const client = new SnapshotsClient(socket);
  clientRef = client;
  return {
    root,
    socket,
    process: child,
    client,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      client.close();
      child.kill(signal);
      return exited;
    },
  };
}

/** Whether something accepts connections on the socket (a stale file does not). */
function socketAccepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    connection.once('connect', () => {
      connection.destroy();
      resolve(true);
    });
    connection.once('error', () => resolve(false));
  });
}
