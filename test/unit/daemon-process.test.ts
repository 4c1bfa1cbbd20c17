/**
 * The test harness's daemon processes (harness/daemon-process.ts): stop()
 * resolves once the process has exited and its stderr has been read to the
 * end. Node's 'exit' event can come before a child's last output has been read
 * (the child_process docs: its stdio streams "might still be open"); a test
 * that then looked for the daemon's "stopped" line found it missing once in CI.
 * The daemon here leaves its last line to a process that writes it after the
 * daemon has exited, so that 'exit' surely comes first.
 */
import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { startDaemonCommand } from '../../harness/daemon-process';
import { makeTempDir } from '../support/temp-dir';

/** A daemon on socket that, on SIGTERM, leaves a child holding its stderr to write `last` after lingerMs, and exits. */
function daemonScript(socket: string, lingerMs: number, last: string): string[] {
  const child = `setTimeout(() => process.stderr.write(${JSON.stringify(last)}), ${lingerMs})`;
  const daemon = `
    const net = require('node:net');
    const { spawn } = require('node:child_process');
    const server = net.createServer((c) => c.end()).listen(${JSON.stringify(socket)});
    process.on('SIGTERM', () => {
      server.close();
      spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: ['ignore', 'ignore', 'inherit'], detached: true }).unref();
      process.exit(0);
    });`;
  return ['-e', daemon];
}

function socketPath(t: ExecutionContext): string {
  return path.join(makeTempDir(t, 'daemon-process'), 'daemon.sock');
}

test('stop() returns once the exited daemon\'s stderr has been read to its end', async (t) => {
  const socket = socketPath(t);
  const daemon = await startDaemonCommand('a test daemon', process.execPath, socket, daemonScript(socket, 300, 'stopped\n'));
  const started = Date.now();
  t.is(await daemon.stop(), 0);
  t.true(Date.now() - started >= 250, 'it waited for the output that came after the exit');
  t.true(daemon.stderr().endsWith('stopped\n'), JSON.stringify(daemon.stderr()));
});

test('stop() does not wait past its bound for a process that keeps the exited daemon\'s stderr open', async (t) => {
  const socket = socketPath(t);
  const daemon = await startDaemonCommand('a test daemon', process.execPath, socket, daemonScript(socket, 10_000, 'late\n'));
  const started = Date.now();
  t.is(await daemon.stop(), 0);
  const waited = Date.now() - started;
  t.true(waited >= 1_500 && waited < 5_000, `waited ${waited} ms`);
  t.false(daemon.stderr().includes('late'));
});
