/** gRPC's health Check asked of a server on a unix socket (grpc-health.ts): `tsov health`, and a daemon checking its own socket. */
import { healthServiceCodecs } from './grpc-health';
import { UnixGrpcClient } from './grpc-unix-client';

/** A HealthCheckResponse is one enum field. */
const REPLY_BYTES = 1024;

/** The status the server at socketPath answers for service; rejects with the call's GrpcCallError. */
export async function checkHealth(socketPath: string, service: string, timeoutMs: number): Promise<string> {
  const client = new UnixGrpcClient(socketPath, healthServiceCodecs(), { maxReceiveBytes: REPLY_BYTES, timeoutMs });
  try {
    return String((await client.unary('Check', { service })).status);
  } finally {
    client.close();
  }
}
