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

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

export type HealthAnswer = { found: true; status: ServingStatus } | { found: false };

/**
 * The answer to Check(service) from a server in phase that knows services
 * ("" always); a serving daemon that cannot do its work now (impaired: the
 * snapshotter's disk stalled; its log says why) answers NOT_SERVING too.
 */
export function healthAnswer(phase: ServerPhase, services: ReadonlySet<string>, service: string, impaired = false): HealthAnswer {
  if (service !== '' && !services.has(service)) return { found: false };
  return { found: true, status: phase === 'serving' && !impaired ? 'SERVING' : 'NOT_SERVING' };
}

export function healthServiceCodecs(): ServiceCodecs {
  return loadServiceCodecs(HEALTH_PROTO, HEALTH_SERVICE);
}
