/**
 * tsov-helper and tsov-snapshotter started as systemd starts them from
 * tsov-helper.socket / tsov-snapshotter.socket: systemd's own
 * `systemd-socket-activate` holds the listening socket and passes it as fd 3
 * with LISTEN_PID and LISTEN_FDS (sd_listen_fds(3)). A shell loop under it
 * plays Restart=: it starts the daemon again, with the same socket, when the
 * test says so, as systemd would restart the service.
 *
 * What must show: the daemon serves the socket it was given (and says so),
 * leaves the socket file in place when it stops, and a call made while it is
 * down — by tsov's own client without waiting for ready, and by containerd
 * (grpc-go) through its proxy plugin — waits in the socket's backlog and is
 * answered by the next process, where without socket activation it would be
 * refused. A socket bound to another path than the configured one is refused
 * at start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI_MAIN, HELPER_MAIN, SNAPSHOTTER_MAIN } from '../../harness/daemon-process';
import { waitFor } from '../../harness/wait';
import { HelperClient } from '../../helper/api/helper-client';
import { startTestContainerd } from '../support/containerd';
import { goHealthCheck } from '../support/go-harness';
import { startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';
import { SnapshotsClient } from '../support/snapshots-client';

/**
 * A restarting service, as systemd's Restart= with the test deciding when:
 * $1 the pid file, $2 the file that stops the loop, $3 the file that starts
 * the next run, the rest the daemon. Each run gets fd 3 and LISTEN_PID=its
 * own pid.
 */
const RESTART_LOOP = `
pidfile=$1; stop=$2; go=$3; shift 3
while [ ! -e "$stop" ]; do
  rm -f "$go"
  sh -c 'echo $$ > "$0"; export LISTEN_PID=$$; exec "$@"' "$pidfile" "$@"
  while [ ! -e "$go" ] && [ ! -e "$stop" ]; do sleep 0.02; done
done
`;

interface ActivatedService {
  socket: string;
  /** The running daemon's pid (the last one started). */
  pid(): number;
  output(): string;
  /** SIGTERM to the daemon; resolves once it has exited. The next starts at startNext. */
  stopDaemon(): Promise<number>;
  startNext(): void;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The daemon under systemd-socket-activate and the restart loop; everything is killed in the teardown. It starts at the first connection. */
function activated(t: ExecutionContext, base: string, socket: string, daemon: string[]): ActivatedService {
  const pidfile = path.join(base, 'daemon.pid');
  const stop = path.join(base, 'stop-loop');
  const go = path.join(base, 'start-next');
  const loop = path.join(base, 'restart-loop.sh');
  fs.writeFileSync(loop, RESTART_LOOP);
  const child: ChildProcess = spawn('systemd-socket-activate', ['-l', socket, '/bin/sh', loop, pidfile, stop, go, ...daemon], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.teardown(async () => {
    fs.writeFileSync(stop, '');
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await waitFor('the socket-activated service to stop', () => child.exitCode !== null || child.signalCode !== null, 10_000).catch(() => process.kill(-child.pid!, 'SIGKILL'));
  });
  const pid = () => Number(fs.readFileSync(pidfile, 'utf8'));
  return {
    socket,
    pid,
    output: () => output,
    stopDaemon: async () => {
      const running = pid();
      process.kill(running, 'SIGTERM');
      await waitFor(`daemon ${running} to exit`, () => !isRunning(running));
      return running;
    },
    startNext: () => fs.writeFileSync(go, ''),
  };
}

/**
 * Whether a unix socket at this path listens (`ss -xl`, from sock_diag). Its
 * file appears at bind(2), before systemd-socket-activate calls listen(2): a
 * connect in between is refused (ECONNREFUSED), and the first connection is
 * the one that starts the daemon.
 */
function listening(socket: string): boolean {
  // ss -l lists a bound socket that does not listen yet too, as UNCONN.
  return ssLine(socket)[1] === 'LISTEN';
}

/** `ss -xl`'s line for the unix socket at this path, as columns (Netid, State, Recv-Q, …); none when it is not listed. */
function ssLine(socket: string): string[] {
  const listed = spawnSync('ss', ['-xlH', 'src', socket], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`ss -xl: ${listed.stderr}`);
  return listed.stdout.trim().split(/\s+/);
}

/**
 * What each open descriptor of a process points at (readlink of
 * /proc/PID/fd/N); one closed between the listing and its readlink is
 * skipped, not an error.
 */
function descriptorTargets(pid: number | string): string[] {
  return fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  });
}

/** Connections waiting in a listening unix socket's backlog: ss's Recv-Q for it (sock_diag), as `ss -xl` shows it. */
function backlog(socket: string): number {
  return Number(ssLine(socket)[2] ?? 0);
}

test('tsov-helper on the socket systemd passed: serves it, keeps it across a restart, and a call made while it is down is answered by the next process', async (t) => {
  const base = makeTempDir(t, 'activated-helper');
  const run = path.join(base, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const roots = path.join(base, 'roots');
  fs.mkdirSync(roots);
  const socket = path.join(run, 'helper.sock');
  const service = activated(t, base, socket, [HELPER_MAIN, '--socket', socket, '--state-dir', path.join(base, 'state'), '--allowed-root', roots, '--log-level', 'info']);
  await waitFor('systemd-socket-activate to listen', () => listening(socket));

  const client = new HelperClient(socket, { timeoutSeconds: 30 });
  t.teardown(() => client.close());
  t.deepEqual(await client.list(), [], 'the first connection started the helper, which answered on the socket it was given');
  // The call can be answered before the "serving" line has come through the log's pipe.
  await waitFor('the "serving" line', () => /"message":"serving".*"socket_checked_by":"\/proc\/self\/net\/unix","socket_from":"systemd"/.test(service.output()));

  const first = await service.stopDaemon();
  t.true(fs.existsSync(socket), 'the stopped helper left systemd\'s socket in place');
  // A new connection while no helper runs: queued by the kernel, not refused. This client does not wait for ready.
  const during = new HelperClient(socket, { timeoutSeconds: 30 });
  t.teardown(() => during.close());
  let answered = false;
  const call = during.list().finally(() => (answered = true));
  await waitFor('the call\'s connection to wait in the socket\'s backlog', () => backlog(socket) >= 1);
  t.false(answered, 'no answer while no helper runs (and no refusal)');
  service.startNext();
  t.deepEqual(await call, [], 'answered by the next helper');
  t.not(service.pid(), first, 'a new process');
  t.true(isRunning(service.pid()));
});

// Serial (ava runs it before this file's other tests, which start daemons of their own): containerd's
// 1-s window for the next snapshotter's handshake is timing, and the file already runs alone.
test.serial('tsov-snapshotter on the socket systemd passed: containerd\'s calls made while it restarts wait and succeed', async (t) => {
  const base = makeTempDir(t, 'activated-snapshotter');
  const run = path.join(base, 'run');
  fs.mkdirSync(run, { mode: 0o711 });
  const socket = path.join(run, 'tsov.sock');
  const service = activated(t, base, socket, [SNAPSHOTTER_MAIN, '--root', path.join(base, 'root'), '--address', socket, '--log-level', 'info']);
  await waitFor('systemd-socket-activate to listen', () => listening(socket));
  const containerd = await startTestContainerd(t, path.join(base, 'containerd'), socket);
  const snapshots = (...args: string[]) => containerd.ctr(['snapshots', '--snapshotter', 'tsov', ...args], { timeoutMs: 60_000 });

  await snapshots('prepare', 'before-restart');
  await waitFor('the "serving" line', () => /"message":"serving".*"socket_from":"systemd"/.test(service.output()));
  const first = await service.stopDaemon();
  t.true(fs.existsSync(socket));
  let answered = false;
  const prepare = snapshots('prepare', 'during-restart').finally(() => (answered = true));
  // containerd's proxy client gives a reconnect 1 s on its first attempt to get the server's
  // handshake (services/server/server.go getClient: ConnectParams without MinConnectTimeout,
  // so grpc-go's clientconn.go resetTransport waits for the backoff, BaseDelay 1 s): once its
  // connection waits in the backlog, the next snapshotter starts and answers the handshake
  // before its service is ready (~0.3 s on this VM, run alone: scripts/run-tests.mjs).
  await waitFor('containerd\'s connection to wait in the socket\'s backlog', () => backlog(socket) >= 1);
  t.false(answered, 'no answer while no snapshotter runs (and no refusal)');
  service.startNext();
  await prepare;
  t.not(service.pid(), first);
  const listed = await snapshots('ls');
  t.regex(listed, /before-restart/);
  t.regex(listed, /during-restart/);
});

test('a daemon passed a socket bound to another path than its configured one refuses to start, naming both', (t) => {
  const base = makeTempDir(t, 'activated-elsewhere');
  const run = path.join(base, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const passed = path.join(run, 'passed.sock');
  const configured = path.join(run, 'helper.sock');
  // systemd-socket-activate waits for a connection before it starts the daemon: a client connects and leaves.
  const client = spawn('sh', ['-c', `while [ ! -S ${passed} ]; do sleep 0.05; done; exec node -e "require('net').connect('${passed}').on('error', () => {})"`], { stdio: 'ignore' });
  t.teardown(() => client.kill());
  const result = spawnSync('systemd-socket-activate', ['-l', passed, HELPER_MAIN, '--socket', configured, '--state-dir', path.join(base, 'state'), '--allowed-root', base], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.is(result.status, 1, result.stderr);
  t.regex(result.stderr, new RegExp(`tsov-helper: the socket systemd passed cannot be served: it is bound to "${passed}", not to "${configured}", which clients are told to use; make the \\.socket unit's ListenStream= and the configured socket name the same path`));
  t.false(fs.existsSync(configured), 'nothing was made at the configured path');
});

/**
 * The first bytes a server sends after a client's HTTP/2 preface and empty
 * SETTINGS (RFC 9113 §3.4: the server's connection preface is a SETTINGS
 * frame): what grpc-go waits for before it counts a connection as made.
 */
function serverPreface(socket: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const connection = net.connect(socket);
    const timer = setTimeout(() => {
      connection.destroy();
      reject(new Error(`no HTTP/2 handshake from ${socket} in ${timeoutMs} ms`));
    }, timeoutMs);
    connection.on('connect', () => connection.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])));
    connection.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      connection.destroy();
      resolve(chunk);
    });
    connection.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const SETTINGS_FRAME = 4;


type Daemon = 'tsov-helper' | 'tsov-snapshotter';

/**
 * daemon on a socket systemd-socket-activate holds, its policy file a FIFO:
 * the policy reader waits in its read until the test writes the policy.
 */
async function activatedWaitingForPolicy(t: ExecutionContext, daemon: Daemon, name: string) {
  const base = makeTempDir(t, `${name}-${daemon}`);
  const run = path.join(base, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const socket = path.join(run, `${daemon}.sock`);
  const policy = path.join(base, 'policy.yaml');
  const made = spawnSync('mkfifo', [policy], { encoding: 'utf8' });
  t.is(made.status, 0, made.stderr);
  const args =
    daemon === 'tsov-helper'
      ? [HELPER_MAIN, '--config', policy, '--socket', socket, '--state-dir', path.join(base, 'state'), '--allowed-root', base]
      : [SNAPSHOTTER_MAIN, '--config', policy, '--root', path.join(base, 'root'), '--address', socket];
  const service = activated(t, base, socket, args);
  await waitFor('systemd-socket-activate to listen', () => listening(socket));
  return { service, socket, policy };
}

for (const daemon of ['tsov-helper', 'tsov-snapshotter'] as const) {
  test(`${daemon} answers the HTTP/2 handshake on the socket systemd passed while its policy is still being read`, async (t) => {
    const { service, socket, policy } = await activatedWaitingForPolicy(t, daemon, 'activated-early');

    // The first connection starts the daemon; its handshake comes with the policy unread.
    const preface = await serverPreface(socket, 15_000);
    t.true(preface.length >= 9 && preface[3] === SETTINGS_FRAME, `the server's preface is a SETTINGS frame: ${preface.subarray(0, 9).toString('hex')}`);
    t.notRegex(service.output(), /"message":"serving"/, 'answered before the daemon serves calls');

    let answered = false;
    const client = new HelperClient(socket, { timeoutSeconds: 30 });
    t.teardown(() => client.close());
    const call = daemon === 'tsov-helper' ? client.list().finally(() => (answered = true)) : undefined;
    // gRPC's health check is answered meanwhile: up, not ready (what the DaemonSet's readiness probe asks).
    t.deepEqual(goHealthCheck(socket, ''), { status: 'NOT_SERVING' });
    const starting = spawnSync(process.execPath, [CLI_MAIN, 'health', daemon === 'tsov-helper' ? 'helper' : 'snapshotter', '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
    t.is(starting.status, 1);
    // The daemon's own reason (the Check reply's trailer), not the generic line for a server that gives none.
    t.regex(starting.stderr, /: NOT_SERVING: it answers but does not serve calls \(starting: its calls wait until it is ready \(the snapshotter: its database/);
    t.false(answered, 'a call made meanwhile is held, not answered or refused');
    // The policy reader, waiting in its read, does not hold systemd's listening socket (fd 3 is
    // not inherited: libuv opens it close-on-exec), so a stuck reader keeps no connection waiting.
    const passedSocket = fs.readlinkSync(`/proc/${service.pid()}/fd/3`);
    t.regex(passedSocket, /^socket:/);
    const readers = fs.readFileSync(`/proc/${service.pid()}/task/${service.pid()}/children`, 'utf8').trim().split(/\s+/).filter((pid) => pid !== '');
    t.is(readers.length, 1, 'one child: the policy reader');
    t.false(descriptorTargets(readers[0]!).includes(passedSocket), `the policy reader holds ${passedSocket} at no fd`);

    await fs.promises.writeFile(policy, 'log:\n  level: info\n');
    await waitFor(`${daemon} to serve once its policy is read`, () => /"message":"serving".*"socket_checked_by":"\/proc\/self\/net\/unix","socket_from":"systemd"/.test(service.output()), 30_000);
    if (call !== undefined) t.deepEqual(await call, [], 'the held call is answered');
    t.deepEqual(goHealthCheck(socket, ''), { status: 'SERVING' });
    t.true(isRunning(service.pid()));
  });
}

for (const daemon of ['tsov-helper', 'tsov-snapshotter'] as const) {
  test(`${daemon} whose policy cannot be used answers the calls it held with the reason, not a closed connection`, async (t) => {
    const { service, socket, policy } = await activatedWaitingForPolicy(t, daemon, 'activated-bad-policy');
    await serverPreface(socket, 15_000);
    // A call made while the policy is read is held (containerd's first call after a restart).
    // The policy is written only once the daemon has taken the call's connection: written
    // sooner, the daemon could exit before the client connects (to a socket nobody then serves).
    const sockets = () => new Set(descriptorTargets(service.pid()).filter((link) => link.startsWith('socket:')));
    const before = sockets();
    let held: Promise<unknown>;
    if (daemon === 'tsov-helper') {
      const client = new HelperClient(socket, { timeoutSeconds: 30 });
      t.teardown(() => client.close());
      held = client.list();
    } else {
      const client = new SnapshotsClient(socket, { deadlineMs: 30_000 });
      t.teardown(() => client.close());
      held = client.stat('a-layer');
    }
    held.catch(() => undefined);
    await waitFor(`${daemon} to take the call's connection`, () => [...sockets()].some((socket) => !before.has(socket)), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fs.promises.writeFile(policy, `${daemon === 'tsov-helper' ? 'helper' : 'snapshotter'}:\n  bogus: 1\n`);
    const error = (await t.throwsAsync(held)) as (Error & { code?: number | string }) | undefined;
    // Before, the process exited under it: the client saw its connection closed ("Connection dropped").
    // UNAVAILABLE: grpc-js's code; tsov's helper client names it.
    t.is(error?.code, daemon === 'tsov-helper' ? 'Unavailable' : 14, error?.message);
    t.regex(error?.message ?? '', new RegExp(`${daemon} could not start: .*policy\\.yaml is not a valid tsov policy:.*policy\\.yaml:2:3: (helper|snapshotter)\\.bogus: unknown key.*; fix the cause and start it again`, 's'));
    await waitFor(`${daemon} to exit`, () => !isRunning(service.pid()), 10_000);
    t.regex(service.output(), /is not a valid tsov policy/);
  });
}

/**
 * A daemon in a network namespace of its own (the snapshotter's
 * PrivateNetwork=yes; here `unshare --net`, which keeps the pid systemd
 * named) cannot see systemd's socket in /proc/self/net/unix: it checks the
 * path by reaching itself through it (common/socket-self-check.ts).
 */
const NETNS_CASES = [
  { what: 'the configured path is the passed socket: served', configured: 'same', expected: /"message":"serving".*"socket_checked_by":"a health check through the path","socket_from":"systemd"/ },
  { what: 'nothing at the configured path: refused', configured: 'missing', expected: /the socket systemd passed cannot be served: it is not the socket at ".*\/helper\.sock", which clients are told to use \(nothing there reached this process \(connect ENOENT .*\)\); make the \.socket unit's ListenStream= and the configured socket name the same path/ },
  { what: 'another helper serves the configured path: refused', configured: 'other', expected: /it is not the socket at ".*\/helper\.sock", which clients are told to use \(a server there answered, not this one \(unknown service "tsov\.self-check\.[0-9a-f]{32}"/ },
] as const;

for (const { what, configured, expected } of NETNS_CASES) {
  test(`tsov-helper in a network namespace of its own, passed a socket: ${what}`, async (t) => {
    const base = makeTempDir(t, `activated-netns-${configured}`);
    const run = path.join(base, 'run');
    fs.mkdirSync(run, { mode: 0o700 });
    const passed = path.join(run, configured === 'same' ? 'helper.sock' : 'passed.sock');
    const socket = path.join(run, 'helper.sock');
    if (configured === 'other') await startHelper(t, { socket, stateDir: path.join(base, 'other-state'), roots: [base] });
    const service = activated(t, base, passed, ['unshare', '--net', HELPER_MAIN, '--socket', socket, '--state-dir', path.join(base, 'state'), '--allowed-root', base, '--log-level', 'info']);
    await waitFor('systemd-socket-activate to listen', () => listening(passed));
    // The first connection starts the daemon.
    await serverPreface(passed, 15_000);
    await waitFor(`the helper to ${configured === 'same' ? 'serve' : 'refuse'}`, () => expected.test(service.output()), 30_000);
    if (configured === 'same') {
      t.deepEqual(goHealthCheck(socket, ''), { status: 'SERVING' });
      t.not(fs.readlinkSync(`/proc/${service.pid()}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'the helper ran in a network namespace of its own');
    } else {
      await waitFor('the refusing helper to exit', () => !isRunning(service.pid()));
    }
    t.regex(service.output(), expected);
  });
}
