/**
 * The gRPC edge of tsov-helper (tsov.helper.v1.Helper): wire messages to
 * HelperService calls and back.
 */
import { UnixGrpcServer, unary } from '../../common/grpc-unix-server';
import { HELPER_SERVICE } from '../../common/served-services';
import type { HelperService } from './helper-service';
import { helperServiceCodecs, mountRecordToWire, mountRequestFromWire, probeReportToWire } from '../api/wire';

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * A gRPC server on a unix socket for tsov.helper.v1.Helper (and gRPC's health
 * service); serveHelper gives it the service, useLogger its logger.
 */
export function createHelperServer(): UnixGrpcServer {
  const server = new UnixGrpcServer({ logField: 'owner' });
  server.serveHealth([HELPER_SERVICE]);
  return server;
}

/** Serves tsov.helper.v1.Helper from the service on server. */
export function serveHelper(server: UnixGrpcServer, s: HelperService): void {
  server.addService(helperServiceCodecs(), {
    Probe: unary(async (r, deadline) => probeReportToWire(await s.probe(str(r.directory), r.refresh === true, deadline))),
    Mount: unary(async (r, deadline) => mountRecordToWire(await s.mount(mountRequestFromWire(r), deadline), true)),
    Unmount: unary(async (r) => s.unmount(Number(r.id ?? 0), str(r.owner), r.detach === true)),
    Release: unary(async (r) => ({ released: await s.release(str(r.owner), r.detach === true) })),
    List: unary((r) => ({ mounts: s.list(str(r.owner)).map(({ entry, mounted }) => mountRecordToWire(entry, mounted)) })),
  });
}
