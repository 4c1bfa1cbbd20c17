/**
 * Getting a unix socket path ready to listen on: its directory exists, a stale
 * socket left by a crash is removed, and a live one (another instance serving)
 * is refused rather than stolen.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { StartupError, errnoCode } from './errors';

const PROBE_TIMEOUT_MS = 1000;

/** Whether a process accepts connections on the socket (a stale socket file refuses them). */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function prepareSocketPath(socketPath: string, directoryMode: number): Promise<void> {
  if (!path.isAbsolute(socketPath)) {
    throw new StartupError(`socket path ${JSON.stringify(socketPath)} must be absolute`);
  }
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: directoryMode });
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) {
    throw new StartupError(`${socketPath} exists and is not a socket; remove it or choose another path`);
  }
  if (await socketAnswers(socketPath)) {
    throw new StartupError(`another process is serving ${socketPath}; stop it first or choose another path`);
  }
  fs.unlinkSync(socketPath);
}
