/** gRPC's health Check asked of a server on a unix socket (grpc-health.ts): `tsov health`, and a daemon checking its own socket. */
import { HEALTH_REASON_TRAILER, decodeHealthReason, healthServiceCodecs } from './grpc-health';
import { UnixGrpcClient } from './grpc-unix-client';

/** A HealthCheckResponse is one enum field. */
const REPLY_BYTES = 1024;

/** What the server answered, and why it does not serve if it said (a tsov daemon does: grpc-health.ts). */
export interface HealthReply {
  status: string;
  reason?: string;
}

/** The status the server at socketPath answers for service; rejects with the call's GrpcCallError. */
export async function checkHealth(socketPath: string, service: string, timeoutMs: number): Promise<HealthReply> {
  const client = new UnixGrpcClient(socketPath, healthServiceCodecs(), { maxReceiveBytes: REPLY_BYTES, timeoutMs });
  try {
    const { reply, trailers } = await client.unaryWithTrailers('Check', { service });
    const reason = trailers.get(HEALTH_REASON_TRAILER);
    const decoded = reason === undefined ? undefined : decodeHealthReason(reason);
    return { status: String(reply.status), ...(decoded === undefined ? {} : { reason: decoded }) };
  } finally {
    client.close();
  }
}
