/**
 * The gRPC edge of tsov-helper (tsov.helper.v1.Helper): wire messages to
 * HelperService calls and back.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { UnixGrpcServer } from '../../../common/grpc-unix-server';
import type { Logger } from '../../../common/logger';
import type { HelperService } from './helper-service';
import { helperServiceConstructor, mountRecordToWire, mountRequestFromWire, probeReportToWire } from './wire';

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

export class HelperGrpcServer {
  private readonly server: UnixGrpcServer;

  constructor(
    private readonly service: HelperService,
    logger: Logger,
  ) {
    this.server = new UnixGrpcServer({ logger, logField: 'owner' });
    this.server.addService(helperServiceConstructor().service, this.implementation());
  }

  listen(socketPath: string): Promise<void> {
    return this.server.listen(socketPath);
  }

  shutdown(graceMs: number): Promise<void> {
    return this.server.shutdown(graceMs);
  }

  private implementation(): UntypedServiceImplementation {
    const s = this.service;
    const unary = this.server.unary.bind(this.server);
    return {
      Probe: unary('Probe', async (r) => probeReportToWire(await s.probe(str(r.directory), r.refresh === true))),
      Mount: unary('Mount', async (r) => mountRecordToWire(await s.mount(mountRequestFromWire(r)), true)),
      Unmount: unary('Unmount', async (r) => s.unmount(Number(r.id ?? 0), str(r.owner), r.detach === true)),
      Release: unary('Release', async (r) => ({ released: await s.release(str(r.owner), r.detach === true) })),
      List: unary('List', (r) => ({ mounts: s.list(str(r.owner)).map(({ entry, mounted }) => mountRecordToWire(entry, mounted)) })),
    };
  }
}
