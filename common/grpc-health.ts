/**
 * gRPC's Health Checking Protocol (grpc/grpc doc/health-checking.md;
 * proto/grpc/health/v1/health.proto) as both daemons serve it: Check for ""
 * (the daemon as a whole) and for the service it serves, answered as
 * grpc-go's health server answers it (google.golang.org/grpc/health,
 * server.go: Check gives the status set for the service, NOT_FOUND for a
 * service never set; Shutdown turns every one to NOT_SERVING).
 *
 * What the status means here: NOT_SERVING while the daemon starts (it may
 * already hold systemd's socket and answer, its calls held until its service
 * is ready), once it is stopping, and while it reports itself impaired (the
 * snapshotter: a write waiting on a stalled disk); SERVING otherwise. The answer comes
 * from the daemon's event loop, so a loop that is stuck answers nothing and
 * a probe's time limit catches it. `tsov health` and the DaemonSet's probes
 * ask it; so can any gRPC health client (grpc_health_probe -addr unix://…).
 */
import { loadServiceCodecs, type ServiceCodecs } from './proto-codecs';

export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** Check's path: answered even while a starting daemon holds its other calls. */
export const HEALTH_CHECK_PATH = `/${HEALTH_SERVICE}/Check`;

/** Where a server is in its life: calls held until its service is ready, serving, or shutting down. */
export type ServerPhase = 'starting' | 'serving' | 'stopping';

export type HealthAnswer = { found: true; status: 'SERVING' } | { found: true; status: 'NOT_SERVING'; reason: string } | { found: false };

/**
 * Why a daemon answers NOT_SERVING, sent beside the answer in the reply's
 * trailers (HEALTH_REASON_TRAILER): the health protocol's reply is a status
 * alone, and a probe that fails should say what to look at.
 */
export const NOT_SERVING_REASONS: Readonly<Record<Exclude<ServerPhase, 'serving'>, string>> = {
  starting: 'starting: its calls wait until it is ready (the snapshotter: its database and spare directories; the helper: its journal\'s reconciliation)',
  stopping: 'stopping: it takes no new calls',
};

/**
 * The trailer that carries the reason: binary metadata (a "-bin" key, its
 * value base64, as gRPC's PROTOCOL-HTTP2.md defines Binary-Header), since a
 * reason may name a path; other clients (grpc_health_probe, kubelet's gRPC
 * probe) ignore it.
 */
export const HEALTH_REASON_TRAILER = 'tsov-health-reason-bin';

/**
 * The answer to Check(service) from a server in phase that knows services
 * ("" always); a serving daemon that cannot do its work now (impaired: why,
 * e.g. the snapshotter's disk stalled) answers NOT_SERVING too, with that
 * reason.
 */
export function healthAnswer(phase: ServerPhase, services: ReadonlySet<string>, service: string, impaired?: string): HealthAnswer {
  if (service !== '' && !services.has(service)) return { found: false };
  if (phase !== 'serving') return { found: true, status: 'NOT_SERVING', reason: NOT_SERVING_REASONS[phase] };
  if (impaired !== undefined) return { found: true, status: 'NOT_SERVING', reason: impaired };
  return { found: true, status: 'SERVING' };
}

/** A reason as the trailer carries it, and back (undefined for a value that is not base64 of UTF-8 text). */
export function encodeHealthReason(reason: string): string {
  return Buffer.from(reason, 'utf8').toString('base64');
}

export function decodeHealthReason(value: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  const text = Buffer.from(value, 'base64').toString('utf8');
  return text.includes('\uFFFD') || text === '' ? undefined : text;
}

export function healthServiceCodecs(): ServiceCodecs {
  return loadServiceCodecs(HEALTH_PROTO, HEALTH_SERVICE);
}
