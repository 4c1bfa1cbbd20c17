/**
 * gRPC's health service as tsov's daemons serve it (common/grpc-health.ts):
 * the answer by the server's phase and the service asked (as grpc-go's
 * health server answers: google.golang.org/grpc/health/server.go, Check and
 * Shutdown), what `tsov health` makes of each outcome, and a held server
 * answering Check while its other calls wait.
 */
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import winston from 'winston';
import { HEALTH_REASON_TRAILER, NOT_SERVING_REASONS, decodeHealthReason, encodeHealthReason, healthAnswer, healthServiceCodecs, type HealthAnswer, type ServerPhase } from '../../common/grpc-health';
import { GrpcStatus } from '../../common/grpc-status';
import { checkHealth } from '../../common/grpc-health-client';
import { GrpcCallError, UnixGrpcClient } from '../../common/grpc-unix-client';
import { UnixGrpcServer, unary } from '../../common/grpc-unix-server';
import { SNAPSHOTS_SERVICE } from '../../common/served-services';
import { snapshotsServiceCodecs } from '../../snapshotter/grpc-server';
import { healthVerdict, type HealthOutcome } from '../../cli/commands/health';
import { makeTempDir } from '../support/temp-dir';

const KNOWN = new Set([SNAPSHOTS_SERVICE]);

const STALL = 'a write has waited 31.2 s for the disk';
const { starting: STARTING, stopping: STOPPING } = NOT_SERVING_REASONS;

const ANSWERS: ReadonlyArray<[ServerPhase, string, HealthAnswer, string?]> = [
  ['serving', '', { found: true, status: 'SERVING' }],
  // Impaired: serving, but its work waits (the snapshotter's disk stalled); the reason goes with the answer.
  ['serving', '', { found: true, status: 'NOT_SERVING', reason: STALL }, STALL],
  ['serving', SNAPSHOTS_SERVICE, { found: true, status: 'NOT_SERVING', reason: STALL }, STALL],
  // Starting or stopping says so, impaired or not.
  ['starting', SNAPSHOTS_SERVICE, { found: true, status: 'NOT_SERVING', reason: STARTING }, STALL],
  ['stopping', '', { found: true, status: 'NOT_SERVING', reason: STOPPING }, STALL],
  ['serving', 'tsov.helper.v1.Helper', { found: false }, STALL],
  ['serving', SNAPSHOTS_SERVICE, { found: true, status: 'SERVING' }],
  ['starting', '', { found: true, status: 'NOT_SERVING', reason: STARTING }],
  ['starting', SNAPSHOTS_SERVICE, { found: true, status: 'NOT_SERVING', reason: STARTING }],
  ['stopping', '', { found: true, status: 'NOT_SERVING', reason: STOPPING }],
  ['stopping', SNAPSHOTS_SERVICE, { found: true, status: 'NOT_SERVING', reason: STOPPING }],
  ['serving', 'tsov.helper.v1.Helper', { found: false }],
  ['starting', 'grpc.health.v1.Health', { found: false }],
  ['serving', 'containerd.services.snapshots.v1.snapshots', { found: false }],
];

for (const [phase, service, expected, impaired] of ANSWERS) {
  test(`healthAnswer: ${phase}${impaired === undefined ? '' : ' (impaired)'}, service ${JSON.stringify(service)} → ${expected.found ? expected.status : 'NOT_FOUND'}`, (t) => {
    t.deepEqual(healthAnswer(phase, KNOWN, service, impaired), expected);
  });
}

const REASONS: ReadonlyArray<[string, string | undefined]> = [
  [encodeHealthReason(STALL), STALL],
  // A path may hold any character: the trailer is base64, so a reason is carried as it is.
  [encodeHealthReason('fsync of /var/lib/tsov/snapshots\u00e9\n'), 'fsync of /var/lib/tsov/snapshots\u00e9\n'],
  ['not base64!', undefined],
  ['', undefined],
  // Not UTF-8 (a lone 0xff byte): dropped rather than printed as replacement characters.
  [Buffer.from([0x61, 0xff]).toString('base64'), undefined],
];

for (const [value, expected] of REASONS) {
  test(`decodeHealthReason(${JSON.stringify(value)}) → ${JSON.stringify(expected)}`, (t) => {
    t.is(decodeHealthReason(value), expected);
  });
}

const VERDICTS: ReadonlyArray<[HealthOutcome, 0 | 1, string, RegExp]> = [
  [{ kind: 'answered', status: 'SERVING' }, 0, 'SERVING', /^tsov-snapshotter at \/run\/t\.sock: SERVING$/],
  [{ kind: 'answered', status: 'NOT_SERVING' }, 1, 'NOT_SERVING', /NOT_SERVING: it answers but does not serve calls \(starting: .*; stopping; or, the snapshotter, a write waiting on a stalled disk: its log says which\)$/],
  // The daemon said why: that is the line.
  [{ kind: 'answered', status: 'NOT_SERVING', reason: STALL }, 1, 'NOT_SERVING', /^tsov-snapshotter at \/run\/t\.sock: NOT_SERVING: it answers but does not serve calls \(a write has waited 31\.2 s for the disk\)$/],
  [{ kind: 'answered', status: 'UNKNOWN' }, 1, 'UNKNOWN', /UNKNOWN: it answers but does not serve calls/],
  [{ kind: 'unknown-service' }, 1, 'NOT_THIS_DAEMON', /the server there does not serve containerd\.services\.snapshots\.v1\.Snapshots: is \/run\/t\.sock another daemon's socket\?$/],
  [{ kind: 'unreachable', reason: 'connect ENOENT /run/t.sock' }, 1, 'UNREACHABLE', /cannot reach it \(connect ENOENT \/run\/t\.sock\); start it \(systemctl start tsov-snapshotter\), or name its socket with --socket$/],
  [{ kind: 'no-answer' }, 1, 'NO_ANSWER', /no answer within 5 s: it accepted the connection but its event loop did not answer/],
  [{ kind: 'failed', code: 13, reason: 'boom' }, 1, 'FAILED', /failed with gRPC status 13: boom$/],
];

test('healthVerdict --live: a daemon that answers passes, NOT_SERVING included; one that does not answer fails as without it', (t) => {
  const notServing = healthVerdict('snapshotter', '/run/t.sock', 5, { kind: 'answered', status: 'NOT_SERVING' }, true);
  t.deepEqual([notServing.exitCode, notServing.state], [0, 'NOT_SERVING']);
  t.regex(notServing.line, /; alive \(--live\)$/);
  t.is(healthVerdict('snapshotter', '/run/t.sock', 5, { kind: 'answered', status: 'SERVING' }, true).exitCode, 0);
  for (const outcome of [{ kind: 'no-answer' }, { kind: 'unreachable', reason: 'connect ENOENT' }, { kind: 'unknown-service' }, { kind: 'failed', code: 13, reason: 'boom' }] as const) {
    t.is(healthVerdict('snapshotter', '/run/t.sock', 5, outcome, true).exitCode, 1, outcome.kind);
  }
});

for (const [outcome, exitCode, state, line] of VERDICTS) {
  test(`healthVerdict: ${outcome.kind}${outcome.kind === 'answered' ? ` ${outcome.status}${outcome.reason === undefined ? '' : ' with its reason'}` : ''} → exit ${exitCode}, ${state}`, (t) => {
    const verdict = healthVerdict('snapshotter', '/run/t.sock', 5, outcome);
    t.is(verdict.exitCode, exitCode);
    t.is(verdict.state, state);
    t.regex(verdict.line, line);
  });
}

/** A server with the health service, holding its calls, listening at a fresh socket; shut down in the teardown. */
async function heldServer(t: ExecutionContext, name: string): Promise<{ server: UnixGrpcServer; socket: string }> {
  const server = new UnixGrpcServer({ logger: winston.createLogger({ silent: true }) });
  server.serveHealth([SNAPSHOTS_SERVICE]);
  server.holdCalls();
  const socket = path.join(makeTempDir(t, name), 's.sock');
  await server.listen(socket);
  t.teardown(() => server.shutdown(0));
  return { server, socket };
}

test('a server holding its calls answers Check NOT_SERVING at once while the other calls wait, SERVING once they run, NOT_FOUND for a service it does not serve', async (t) => {
  const { server, socket } = await heldServer(t, 'grpc-health');
  const health = new UnixGrpcClient(socket, healthServiceCodecs(), { maxReceiveBytes: 1024, timeoutMs: 5000 });
  const snapshots = new UnixGrpcClient(socket, snapshotsServiceCodecs(), { maxReceiveBytes: 1024 * 1024, timeoutMs: 5000 });
  t.teardown(() => {
    health.close();
    snapshots.close();
  });

  let statAnswered = false;
  const stat = snapshots.unary('Stat', { key: 'k' }).finally(() => (statAnswered = true));
  t.is(server.phase, 'starting');
  t.is((await health.unary('Check', { service: '' })).status, 'NOT_SERVING');
  t.is((await health.unary('Check', { service: SNAPSHOTS_SERVICE })).status, 'NOT_SERVING');
  t.false(statAnswered, 'the Stat made before is still held');

  server.addService(snapshotsServiceCodecs(), { Stat: unary((r) => ({ info: { name: String(r.key) } })) });
  server.openCalls();
  t.deepEqual(((await stat).info as { name: string }).name, 'k');
  t.is(server.phase, 'serving');
  t.is((await health.unary('Check', { service: SNAPSHOTS_SERVICE })).status, 'SERVING');
  const unknown = await t.throwsAsync(health.unary('Check', { service: 'tsov.helper.v1.Helper' }), { instanceOf: GrpcCallError });
  t.is(unknown?.code, GrpcStatus.NOT_FOUND);
  t.regex(unknown?.message ?? '', /unknown service "tsov\.helper\.v1\.Helper": this server knows "" and "containerd\.services\.snapshots\.v1\.Snapshots"/);

  const stopped = server.shutdown(1000);
  t.is(server.phase, 'stopping', 'NOT_SERVING from the moment shutdown begins');
  await stopped;
});

test('NOT_SERVING carries its reason in a trailer that checkHealth reads: starting, impaired, stopping; SERVING carries none', async (t) => {
  const { server, socket } = await heldServer(t, 'grpc-health-reason');
  let impaired: string | undefined;
  server.reportImpaired(() => impaired);
  const ask = () => checkHealth(socket, SNAPSHOTS_SERVICE, 5000);

  t.deepEqual(await ask(), { status: 'NOT_SERVING', reason: NOT_SERVING_REASONS.starting });
  server.openCalls();
  t.deepEqual(await ask(), { status: 'SERVING' });
  impaired = 'a write has waited 3.4 s for the disk (fsync of /var/lib/tsov/é)';
  t.deepEqual(await ask(), { status: 'NOT_SERVING', reason: impaired });
  // What a stock client sees: the trailer beside grpc-status, binary metadata base64-encoded.
  const health = new UnixGrpcClient(socket, healthServiceCodecs(), { maxReceiveBytes: 1024, timeoutMs: 5000 });
  t.teardown(() => health.close());
  const { trailers } = await health.unaryWithTrailers('Check', { service: '' });
  t.is(trailers.get('grpc-status'), '0');
  t.is(Buffer.from(trailers.get(HEALTH_REASON_TRAILER) ?? '', 'base64').toString('utf8'), impaired);
  impaired = undefined;
  t.deepEqual(await ask(), { status: 'SERVING' });
});

test('refuseCalls: a daemon that cannot start answers its held and later calls with the reason, and its health check NOT_SERVING with it', async (t) => {
  const { server, socket } = await heldServer(t, 'grpc-refuse');
  const snapshots = new UnixGrpcClient(socket, snapshotsServiceCodecs(), { maxReceiveBytes: 1024 * 1024, timeoutMs: 5000 });
  t.teardown(() => snapshots.close());
  const held = snapshots.unary('Stat', { key: 'k' });
  held.catch(() => undefined);
  t.deepEqual(await checkHealth(socket, '', 5000), { status: 'NOT_SERVING', reason: NOT_SERVING_REASONS.starting });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const reason = 'tsov-snapshotter could not start: /etc/tsov/config.yaml:2:3: snapshotter.bogus: unknown key';
  server.refuseCalls(GrpcStatus.UNAVAILABLE, reason);
  const refused = await t.throwsAsync(held, { instanceOf: GrpcCallError });
  t.deepEqual([refused?.code, refused?.message], [GrpcStatus.UNAVAILABLE, reason]);
  const later = await t.throwsAsync(snapshots.unary('Stat', { key: 'k' }), { instanceOf: GrpcCallError });
  t.deepEqual([later?.code, later?.message], [GrpcStatus.UNAVAILABLE, reason]);
  t.deepEqual(await checkHealth(socket, SNAPSHOTS_SERVICE, 5000), { status: 'NOT_SERVING', reason });
});
