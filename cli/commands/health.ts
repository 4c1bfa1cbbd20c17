/**
 * tsov health snapshotter|helper [--socket PATH] [--timeout SECONDS] [--json]:
 * asks a daemon gRPC's health Check for the service it serves
 * (common/grpc-health.ts) and exits 0 only when it answers SERVING — for
 * people, and for the DaemonSet's exec probes (deploy/daemonset.yaml).
 */
import { GrpcStatus } from '../../common/grpc-status';
import { GrpcCallError } from '../../common/grpc-unix-client';
import { checkHealth } from '../../common/grpc-health-client';
import { HELPER_SERVICE, SNAPSHOTS_SERVICE } from '../../common/served-services';

export const HEALTH_TARGETS = {
  snapshotter: { daemon: 'tsov-snapshotter', service: SNAPSHOTS_SERVICE },
  helper: { daemon: 'tsov-helper', service: HELPER_SERVICE },
} as const;

export type HealthTarget = keyof typeof HEALTH_TARGETS;

/** How the question went: the daemon's answer, or why there is none. */
export type HealthOutcome =
  | { kind: 'answered'; status: string; reason?: string }
  | { kind: 'unknown-service' }
  | { kind: 'unreachable'; reason: string }
  | { kind: 'no-answer' }
  | { kind: 'failed'; code: number; reason: string };

export interface HealthVerdict {
  exitCode: 0 | 1;
  /** SERVING, NOT_SERVING, UNREACHABLE, NO_ANSWER, NOT_THIS_DAEMON or FAILED. */
  state: string;
  /** One line for people. */
  line: string;
  /** Why the daemon does not serve, as it said (NOT_SERVING). */
  reason?: string;
}

/**
 * What tsov health says and returns for an outcome. Pure. With live (the
 * liveness question), a daemon that answers at all passes: NOT_SERVING is a
 * start, a stop or a stalled disk, none of which a restart mends.
 */
export function healthVerdict(target: HealthTarget, socket: string, timeoutSeconds: number, outcome: HealthOutcome, live = false): HealthVerdict {
  const { daemon, service } = HEALTH_TARGETS[target];
  const at = `${daemon} at ${socket}`;
  switch (outcome.kind) {
    case 'answered':
      if (outcome.status === 'SERVING') return { exitCode: 0, state: 'SERVING', line: `${at}: SERVING` };
      return {
        exitCode: live ? 0 : 1,
        state: outcome.status,
        // A daemon of this version says why; another server (or an older tsov) does not.
        line: `${at}: ${outcome.status}: it answers but does not serve calls (${outcome.reason ?? 'starting: its calls wait until it is ready; stopping; or, the snapshotter, a write waiting on a stalled disk: its log says which'})${live ? '; alive (--live)' : ''}`,
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      };
    case 'unknown-service':
      return { exitCode: 1, state: 'NOT_THIS_DAEMON', line: `${at}: the server there does not serve ${service}: is ${socket} another daemon's socket?` };
    case 'unreachable':
      return { exitCode: 1, state: 'UNREACHABLE', line: `${at}: cannot reach it (${outcome.reason}); start it (systemctl start ${daemon}), or name its socket with --socket` };
    case 'no-answer':
      return { exitCode: 1, state: 'NO_ANSWER', line: `${at}: no answer within ${timeoutSeconds} s: it accepted the connection but its event loop did not answer (stuck or overloaded); its log may say why` };
    case 'failed':
      return { exitCode: 1, state: 'FAILED', line: `${at}: the health check failed with gRPC status ${outcome.code}: ${outcome.reason}` };
  }
}

/** Asks once; never throws for what the daemon or the socket does. */
export async function askHealth(target: HealthTarget, socket: string, timeoutSeconds: number): Promise<HealthOutcome> {
  try {
    return { kind: 'answered', ...(await checkHealth(socket, HEALTH_TARGETS[target].service, timeoutSeconds * 1000)) };
  } catch (error) {
    if (!(error instanceof GrpcCallError)) throw error;
    if (!error.reachedServer) return { kind: 'unreachable', reason: error.message };
    if (error.code === GrpcStatus.DEADLINE_EXCEEDED) return { kind: 'no-answer' };
    if (error.code === GrpcStatus.NOT_FOUND) return { kind: 'unknown-service' };
    return { kind: 'failed', code: error.code, reason: error.message };
  }
}

export async function healthCommand(target: HealthTarget, socket: string, options: { timeoutSeconds: number; json: boolean; live: boolean }): Promise<number> {
  const verdict = healthVerdict(target, socket, options.timeoutSeconds, await askHealth(target, socket, options.timeoutSeconds), options.live);
  const { daemon } = HEALTH_TARGETS[target];
  if (options.json) process.stdout.write(`${JSON.stringify({ daemon, socket, state: verdict.state, ...(verdict.reason === undefined ? {} : { reason: verdict.reason }), message: verdict.line })}\n`);
  else (verdict.exitCode === 0 ? process.stdout : process.stderr).write(`${verdict.line}\n`);
  return verdict.exitCode;
}
