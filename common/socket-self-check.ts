/**
 * Whether a socket systemd passed is the one at the configured path, where
 * /proc/self/net/unix cannot say: a daemon in a network namespace of its own
 * (tsov-snapshotter's PrivateNetwork=yes) does not see systemd's sockets
 * there. A unix socket's path reaches it from any network namespace
 * (net/unix/af_unix.c looks a path up in the filesystem, not in the
 * namespace), so the daemon, already listening on the passed socket, connects
 * to the configured path and asks gRPC's health Check for a service name only
 * it knows (UnixGrpcServer.answerHealthFor). An answer means the path leads
 * to this process's socket; anything else (nothing there, another server, no
 * answer) means it does not.
 */
import { randomBytes } from 'node:crypto';
import { checkHealth } from './grpc-health-client';
import { GrpcCallError } from './grpc-unix-client';
import type { UnixGrpcServer } from './grpc-unix-server';
import { checkPassedSocket, unservablePassedSocket, type PassedSocket } from './socket-activation';

const SELF_CHECK_TIMEOUT_MS = 5_000;

/** A passed socket found to be the configured path's: how (for the "serving" log line). */
export interface VerifiedSocket {
  checkedBy: '/proc/self/net/unix' | 'a health check through the path';
}

/** Resolves when the socket at socketPath leads to server; otherwise the reason it does not. */
export async function reachesThisServer(server: UnixGrpcServer, socketPath: string, timeoutMs = SELF_CHECK_TIMEOUT_MS): Promise<{ ok: true } | { ok: false; reason: string }> {
  const name = `tsov.self-check.${randomBytes(16).toString('hex')}`;
  const forget = server.answerHealthFor(name);
  try {
    await checkHealth(socketPath, name, timeoutMs);
    return { ok: true };
  } catch (error) {
    if (!(error instanceof GrpcCallError)) throw error;
    return { ok: false, reason: error.reachedServer ? `a server there answered, not this one (${error.message})` : `nothing there reached this process (${error.message})` };
  } finally {
    forget();
  }
}

/**
 * Refuses (StartupError) a passed socket that is not the one at socketPath,
 * judged from /proc/self/net/unix where it lists the socket, else by
 * reachesThisServer; server must already listen on it.
 */
export async function verifyPassedSocket(server: UnixGrpcServer, passed: PassedSocket, socketPath: string): Promise<VerifiedSocket> {
  if (checkPassedSocket(passed, socketPath)) return { checkedBy: '/proc/self/net/unix' };
  const reached = await reachesThisServer(server, socketPath);
  if (!reached.ok) {
    throw unservablePassedSocket(`it is not the socket at ${JSON.stringify(socketPath)}, which clients are told to use (${reached.reason})`);
  }
  return { checkedBy: 'a health check through the path' };
}
