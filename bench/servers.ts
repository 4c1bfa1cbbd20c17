/**
 * The two snapshotter servers the benchmarks compare, and the repo's Go
 * programs they use: bench/go/reference-proxy (containerd's own overlayfs
 * snapshotter behind containerd's proxy service, on a unix socket),
 * bench/go/load-driver (containerd's proxy client) and bench/go/fsstress.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startDaemonCommand, startSnapshotterProcess, type DaemonProcess } from '../harness/daemon-process';
import { buildGoProgram } from '../harness/go-build';

const GO_DIR = path.resolve(__dirname, '..', '..', 'bench', 'go');
const BIN_DIR = path.join(GO_DIR, 'bin');

export type Server = 'tsov' | 'reference';

/** Builds the Go programs when their source changed; returns their paths. */
export function goPrograms(): { proxy: string; driver: string; fsstress: string } {
  const build = (name: string, options: { static?: boolean } = {}) => buildGoProgram({ dir: path.join(GO_DIR, name), output: path.join(BIN_DIR, name), ...options });
  return { proxy: build('reference-proxy'), driver: build('load-driver'), fsstress: build('fsstress', { static: true }) };
}

/** A fresh server on a fresh root below dir; its socket is dir/<server>.sock. */
export async function startServer(server: Server, dir: string): Promise<DaemonProcess> {
  fs.mkdirSync(dir, { recursive: true });
  const root = path.join(dir, 'root');
  const socket = path.join(dir, `${server}.sock`);
  if (server === 'tsov') return startSnapshotterProcess(root, socket, ['--log-level', 'warn']);
  return startDaemonCommand('reference-proxy', goPrograms().proxy, socket, ['-root', root, '-address', socket]);
}
