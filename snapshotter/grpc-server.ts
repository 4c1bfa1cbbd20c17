/**
 * The gRPC edge of tsov-snapshotter: containerd.services.snapshots.v1.Snapshots
 * on a unix socket. Converts wire messages to the service's types and back,
 * gives every call a request id, and maps errors to statuses in one place.
 */
import {
  Server,
  ServerCredentials,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { TsovError } from '../common/errors';
import { toServiceError } from '../common/grpc-status';
import type { Logger } from '../common/logger';
import { loadProtoPackage } from '../common/proto-loading';
import { toTimestamp } from './clock';
import type { SnapshotService } from './snapshot-service';
import type { Labels, SnapshotInfo, SnapshotKind } from './snapshot-model';

export const SNAPSHOTS_PROTO = 'containerd/services/snapshots/v1/snapshots.proto';

const KIND_TO_WIRE: Record<SnapshotKind, string> = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' };

export interface WireTimestamp {
  seconds: number;
  nanos: number;
}

export interface WireInfo {
  name: string;
  parent: string;
  kind: string;
  created_at: WireTimestamp | null;
  updated_at: WireTimestamp | null;
  labels: Labels;
}

/** The Snapshots service definition, loaded from proto/. */
export function snapshotsServiceConstructor(): ServiceClientConstructor {
  const pkg = loadProtoPackage(SNAPSHOTS_PROTO);
  const v1 = ((pkg['containerd'] as GrpcObject)['services'] as GrpcObject)['snapshots'] as GrpcObject;
  return (v1['v1'] as GrpcObject)['Snapshots'] as ServiceClientConstructor;
}

export function toWireInfo(info: SnapshotInfo): WireInfo {
  return {
    name: info.name,
    parent: info.parent,
    kind: KIND_TO_WIRE[info.kind],
    created_at: toTimestamp(info.createdAt),
    updated_at: toTimestamp(info.updatedAt),
    labels: info.labels,
  };
}

function fromWireKind(kind: unknown): SnapshotKind {
  switch (kind) {
    case 'VIEW':
      return 'view';
    case 'ACTIVE':
      return 'active';
    default:
      return 'committed';
  }
}

type Request = Record<string, unknown>;

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function labelsOf(value: unknown): Labels {
  return value !== null && typeof value === 'object' ? (value as Labels) : {};
}

export class SnapshotsGrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  private nextRequestId = 1;

  constructor(
    private readonly service: SnapshotService,
    private readonly logger: Logger,
  ) {
    this.server.addService(snapshotsServiceConstructor().service, this.implementation());
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Stops accepting calls and resolves when in-flight calls finish (or the grace period ends). */
  shutdown(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn('in-flight calls did not finish in time; closing them', { graceMs });
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private implementation(): UntypedServiceImplementation {
    const s = this.service;
    return {
      Prepare: this.unary('Prepare', (r) => ({ mounts: s.prepare(str(r.key), str(r.parent), labelsOf(r.labels)) })),
      View: this.unary('View', (r) => ({ mounts: s.view(str(r.key), str(r.parent), labelsOf(r.labels)) })),
      Mounts: this.unary('Mounts', (r) => ({ mounts: s.mounts(str(r.key)) })),
      Commit: this.unary('Commit', async (r) => {
        await s.commit(str(r.name), str(r.key), labelsOf(r.labels), str(r.parent));
        return {};
      }),
      Remove: this.unary('Remove', async (r) => {
        await s.remove(str(r.key));
        return {};
      }),
      Stat: this.unary('Stat', (r) => ({ info: toWireInfo(s.stat(str(r.key))) })),
      Update: this.unary('Update', (r) => {
        const info = (r.info ?? {}) as Request;
        const mask = (r.update_mask ?? {}) as { paths?: string[] };
        const updated = s.update(
          {
            name: str(info.name),
            parent: str(info.parent),
            kind: fromWireKind(info.kind),
            createdAt: 0,
            updatedAt: 0,
            labels: labelsOf(info.labels),
          },
          mask.paths ?? [],
        );
        return { info: toWireInfo(updated) };
      }),
      List: this.stream('List', (r) => s.list(((r.filters ?? []) as string[]).map(String)).map((batch) => ({ info: batch.map(toWireInfo) }))),
      Usage: this.unary('Usage', async (r) => s.usage(str(r.key))),
      Cleanup: this.unary('Cleanup', async () => {
        await s.cleanup();
        return {};
      }),
    };
  }

  private unary(method: string, handler: (request: Request) => unknown) {
    return (call: ServerUnaryCall<Request, unknown>, callback: sendUnaryData<unknown>) => {
      const log = this.requestLogger(method);
      const started = process.hrtime.bigint();
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (reply) => {
            log.debug('ok', { ms: elapsedMs(started), key: call.request.key });
            callback(null, reply);
          },
          (error: unknown) => {
            this.logFailure(log, error, call.request);
            callback(toServiceError(error), null);
          },
        );
    };
  }

  private stream(method: string, handler: (request: Request) => unknown[]) {
    return (call: ServerWritableStream<Request, unknown>) => {
      const log = this.requestLogger(method);
      const started = process.hrtime.bigint();
      try {
        const messages = handler(call.request);
        for (const message of messages) call.write(message);
        log.debug('ok', { ms: elapsedMs(started), messages: messages.length });
        call.end();
      } catch (error: unknown) {
        this.logFailure(log, error, call.request);
        call.emit('error', toServiceError(error));
      }
    };
  }

  private requestLogger(method: string): Logger {
    return this.logger.child({ rpc: method, request_id: this.nextRequestId++ });
  }

  private logFailure(log: Logger, error: unknown, request: Request): void {
    if (error instanceof TsovError && error.code !== 'Internal') {
      log.debug('refused', { code: error.code, reason: error.message, key: request.key });
    } else {
      log.error('failed', { error: error instanceof Error ? error.stack : String(error), key: request.key });
    }
  }
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}
