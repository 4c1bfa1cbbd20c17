/**
 * gRPC's health service on the real daemons, asked by grpc-go's own health
 * client (test/support/go/health-check: grpc_health_v1.HealthClient.Check,
 * what grpc_health_probe and the kubelet's gRPC probe call) and by
 * `tsov health`, whose exit status the DaemonSet's probes use: 0 only for
 * SERVING; a stopped daemon, a frozen one (SIGSTOP: the kernel still accepts
 * its connections, nothing answers) and another daemon's socket each get 1
 * and a line that names the cause.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { HELPER_SERVICE, SNAPSHOTS_SERVICE } from '../../common/served-services';
import { goHealthCheck } from '../support/go-harness';
import { helperLayout, startHelper } from '../support/helper-process';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';


function tsovHealth(...args: string[]) {
  return spawnSync(process.execPath, [CLI_MAIN, 'health', ...args], { encoding: 'utf8', timeout: 30_000 });
}

test('grpc-go\'s health client: both daemons answer SERVING for "" and their service, NotFound for another', async (t) => {
  const base = makeTempDir(t, 'health-go');
  const snapshotter = await startSnapshotter(t, path.join(base, 'root'));
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);
  for (const [socket, service, other] of [
    [snapshotter.socket, SNAPSHOTS_SERVICE, HELPER_SERVICE],
    [helper.socket, HELPER_SERVICE, SNAPSHOTS_SERVICE],
  ] as const) {
    t.deepEqual(goHealthCheck(socket, ''), { status: 'SERVING' }, socket);
    t.deepEqual(goHealthCheck(socket, service), { status: 'SERVING' }, socket);
    const unknown = goHealthCheck(socket, other);
    t.is(unknown.code, 'NotFound', socket);
    t.regex(unknown.message ?? '', new RegExp(`unknown service "${other.replace(/\./g, '\\.')}"`));
  }
});

test('tsov health: exit 0 and SERVING; another daemon\'s socket, a frozen daemon and a stopped one exit 1 naming the cause', async (t) => {
  const base = makeTempDir(t, 'health-cli');
  const snapshotter = await startSnapshotter(t, path.join(base, 'root'));
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);

  const serving = tsovHealth('snapshotter', '--socket', snapshotter.socket);
  t.is(serving.status, 0, serving.stderr);
  t.is(serving.stdout, `tsov-snapshotter at ${snapshotter.socket}: SERVING\n`);
  const json = tsovHealth('helper', '--socket', helper.socket, '--json');
  t.is(json.status, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { daemon: 'tsov-helper', socket: helper.socket, state: 'SERVING', message: `tsov-helper at ${helper.socket}: SERVING` });

  const wrong = tsovHealth('snapshotter', '--socket', helper.socket);
  t.is(wrong.status, 1);
  t.regex(wrong.stderr, /: the server there does not serve containerd\.services\.snapshots\.v1\.Snapshots: is .* another daemon's socket\?/);

  // Frozen: the listening socket still takes the connection; no handshake, no answer.
  process.kill(snapshotter.process.pid!, 'SIGSTOP');
  try {
    const started = Date.now();
    const frozen = tsovHealth('snapshotter', '--socket', snapshotter.socket, '--timeout', '1', '--json');
    t.is(frozen.status, 1, frozen.stderr);
    t.is((JSON.parse(frozen.stdout) as { state: string }).state, 'NO_ANSWER');
    t.true(Date.now() - started < 15_000, 'the probe\'s limit held');
  } finally {
    process.kill(snapshotter.process.pid!, 'SIGCONT');
  }
  t.is(tsovHealth('snapshotter', '--socket', snapshotter.socket).status, 0, 'answers again once thawed');

  await snapshotter.stop();
  const stopped = tsovHealth('snapshotter', '--socket', snapshotter.socket);
  t.is(stopped.status, 1);
  t.regex(stopped.stderr, /^tsov-snapshotter at .*: cannot reach it \(connect ENOENT .*\); start it \(systemctl start tsov-snapshotter\), or name its socket with --socket\n$/);
});

test('tsov health with no daemon named asks both, at the policy\'s sockets: exit 0 when both serve, 1 when one does not', async (t) => {
  const base = makeTempDir(t, 'health-both');
  const snapshotter = await startSnapshotter(t, path.join(base, 'root'));
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);
  const policy = path.join(base, 'policy.yaml');
  fs.writeFileSync(policy, `snapshotter:\n  address: ${snapshotter.socket}\nhelper:\n  socket: ${helper.socket}\n`);

  const both = tsovHealth('--config', policy);
  t.is(both.status, 0, both.stderr);
  t.is(both.stdout, `tsov-snapshotter at ${snapshotter.socket}: SERVING\ntsov-helper at ${helper.socket}: SERVING\n`);

  await helper.stop();
  const one = tsovHealth('--config', policy, '--json');
  t.is(one.status, 1);
  t.deepEqual(
    one.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { daemon: string; state: string })).map(({ daemon, state }) => [daemon, state]),
    [
      ['tsov-snapshotter', 'SERVING'],
      ['tsov-helper', 'UNREACHABLE'],
    ],
  );
});

/** The modules `tsov health ARGS` loaded (a --require'd hook records require.cache at exit), after checking it ran. */
function healthModules(t: ExecutionContext, dir: string, args: readonly string[]): (part: string) => boolean {
  const loaded = path.join(dir, 'loaded.json');
  const preload = path.join(dir, 'record-modules.js');
  fs.writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(Object.keys(require.cache))));\n`);
  const run = spawnSync(process.execPath, ['--require', preload, CLI_MAIN, 'health', ...args, '--timeout', '1'], { encoding: 'utf8', timeout: 30_000 });
  t.is(run.status, 1, run.stderr);
  t.regex(run.stdout + run.stderr, /UNREACHABLE|cannot reach it/);
  const modules = JSON.parse(fs.readFileSync(loaded, 'utf8')) as string[];
  return (part) => modules.some((file) => file.includes(part));
}

test('tsov health, which the DaemonSet runs every few seconds, loads the policy with the build\'s validator and nothing of the other commands', (t) => {
  const dir = makeTempDir(t, 'health-modules');
  const policy = path.join(dir, 'config.yaml');
  fs.writeFileSync(policy, `snapshotter:\n  address: ${path.join(dir, 'snapshotter.sock')}\n`);
  const has = healthModules(t, dir, ['snapshotter', '--config', policy]);
  t.true(has(`${path.sep}policy${path.sep}load-policy.js`), 'the policy was read');
  t.true(has('policy-validator.generated.js'), 'with the validator npm run build wrote');
  for (const unwanted of [`${path.sep}ajv${path.sep}dist${path.sep}ajv.js`, 'helper-client.js', `${path.sep}cli${path.sep}install${path.sep}`, `${path.sep}translator${path.sep}`, 'commands/probe.js', 'commands/mounts.js']) {
    t.false(has(unwanted), `${unwanted} is not loaded`);
  }
});

test('tsov health with every socket it asks named on the command line reads no policy: no YAML parser, no validator', (t) => {
  const dir = makeTempDir(t, 'health-named');
  // A policy that cannot be read at all: named, it would fail the command.
  const unreadable = path.join(dir, 'missing.yaml');
  for (const args of [
    ['snapshotter', '--socket', path.join(dir, 'snapshotter.sock'), '--config', unreadable],
    ['helper', '--helper-socket', path.join(dir, 'helper.sock'), '--config', unreadable],
  ]) {
    const has = healthModules(t, dir, args);
    for (const unwanted of [`${path.sep}policy${path.sep}load-policy.js`, `${path.sep}yaml${path.sep}`, 'policy-validator.generated.js']) t.false(has(unwanted), `${args.join(' ')}: ${unwanted} is not loaded`);
  }
  // Both daemons asked, the snapshotter's socket from the policy: it is read.
  const policy = path.join(dir, 'config.yaml');
  fs.writeFileSync(policy, `snapshotter:\n  address: ${path.join(dir, 'snapshotter.sock')}\n`);
  t.true(healthModules(t, dir, ['--helper-socket', path.join(dir, 'helper.sock'), '--config', policy])(`${path.sep}policy${path.sep}load-policy.js`));
});
