/**
 * The gRPC edge of tsov-snapshotter: containerd.services.snapshots.v1.Snapshots
 * on a unix socket. Converts wire messages to the service's types and back,
 * gives every call a request id, and maps errors to statuses in one place.
 */
import { UnixGrpcServer, serverStream, unary, type MethodHandler, type WireRequest } from '../common/grpc-unix-server';
import { getOrCompute } from '../common/memoize';
import { loadServiceCodecs, type ServiceCodecs } from '../common/proto-codecs';
import { SNAPSHOTS_SERVICE } from '../common/served-services';
import { toTimestamp } from './clock';
import type { MountSpec } from '../common/overlay-mounts';
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

export { SNAPSHOTS_SERVICE };

/** The Snapshots service's methods, loaded from proto/. */
export function snapshotsServiceCodecs(): ServiceCodecs {
  return loadServiceCodecs(SNAPSHOTS_PROTO, SNAPSHOTS_SERVICE);
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

type Request = WireRequest;

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function labelsOf(value: unknown): Labels {
  return value !== null && typeof value === 'object' ? (value as Labels) : {};
}

/**
 * A gRPC server on a unix socket for the Snapshots API (and gRPC's health
 * service); serveSnapshots gives it the service, useLogger its logger.
 */
export function createSnapshotsServer(): UnixGrpcServer {
  const server = new UnixGrpcServer({ logField: 'key' });
  server.serveHealth([SNAPSHOTS_SERVICE]);
  return server;
}

/** Serves the Snapshots API from the service on server; its health check is NOT_SERVING while the disk is stalled. */
export function serveSnapshots(server: UnixGrpcServer, service: SnapshotService): void {
  const definition = snapshotsServiceCodecs();
  server.addService(definition, snapshotsImplementation(service, new EncodedReplies(definition)));
  server.reportImpaired(() => service.diskStall);
}

/**
 * Replies kept encoded. A StatSnapshotResponse is `Info info = 1` and a
 * ListSnapshotsResponse is `repeated Info info = 1`: on the wire a List
 * message is the concatenation of the Stat encodings of its infos. The
 * service hands out the same SnapshotInfo object until a snapshot changes,
 * and the same mounts array for an active snapshot or view, so each is
 * encoded once: Stat, List of thousands of snapshots and Mounts of a deep
 * chain cost no protobuf work while nothing changes.
 */
class EncodedReplies {
  private readonly encodeStat: (value: object) => Buffer;
  private readonly encodeMounts: (value: object) => Buffer;
  private readonly infos = new WeakMap<SnapshotInfo, Buffer>();
  private readonly mountLists = new WeakMap<readonly MountSpec[], Buffer>();

  /** The server sends a Buffer reply as it is (grpc-unix-server.ts). */
  constructor(service: ServiceCodecs) {
    this.encodeStat = service['Stat']!.responseSerialize;
    this.encodeMounts = service['Mounts']!.responseSerialize;
  }

  stat(info: SnapshotInfo): Buffer {
    return getOrCompute(this.infos, info, () => this.encodeStat({ info: toWireInfo(info) }));
  }

  list(infos: readonly SnapshotInfo[]): Buffer {
    return Buffer.concat(infos.map((info) => this.stat(info)));
  }

  mounts(mounts: readonly MountSpec[]): Buffer {
    return getOrCompute(this.mountLists, mounts, () => this.encodeMounts({ mounts }));
  }
}

function snapshotsImplementation(s: SnapshotService, encoder: EncodedReplies): Record<string, MethodHandler> {
  return {
    Prepare: unary(async (r) => ({ mounts: await s.prepare(str(r.key), str(r.parent), labelsOf(r.labels)) })),
    View: unary(async (r) => ({ mounts: await s.view(str(r.key), str(r.parent), labelsOf(r.labels)) })),
    Mounts: unary((r) => encoder.mounts(s.mounts(str(r.key)))),
    Commit: unary(async (r) => {
      await s.commit(str(r.name), str(r.key), labelsOf(r.labels), str(r.parent));
      return {};
    }),
    Remove: unary(async (r) => {
      await s.remove(str(r.key));
      return {};
    }),
    Stat: unary((r) => encoder.stat(s.stat(str(r.key)))),
    Update: unary(async (r) => {
      const info = (r.info ?? {}) as Request;
      const mask = (r.update_mask ?? {}) as { paths?: string[] };
      const updated = await s.update(
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
    List: serverStream((r) => s.list(((r.filters ?? []) as string[]).map(String)).map((batch) => encoder.list(batch))),
    Usage: unary(async (r) => s.usage(str(r.key))),
    Cleanup: unary(async () => {
      await s.cleanup();
      return {};
    }),
  };
}
