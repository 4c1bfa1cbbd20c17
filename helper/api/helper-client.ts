/**
 * A client of tsov-helper for the tsov CLI, tsov-runtime, the snapshotter's
 * probe and the tests, on tsov's own gRPC client (common/grpc-unix-client.ts).
 * Failures come back as the error class the helper threw (common/errors.ts,
 * mapped back from the gRPC status in common/grpc-status.ts); an unreachable
 * helper gets a message that says how to start it.
 */
import { GrpcCallError, UnixGrpcClient } from '../../common/grpc-unix-client';
import { errorFromStatus } from '../../common/grpc-status';
import type { ProbeReport } from './probe-report';
import type { OverlayMountRequest } from './mount-request';
import { helperServiceCodecs, mountRecordFromWire, mountRequestToWire, probeReportFromWire, type MountView } from './wire';
import { DEFAULT_HELPER_SOCKET } from '../../policy/defaults';

export { DEFAULT_HELPER_SOCKET };

/** The largest reply accepted: a List of every mount, a probe report with the kernel's log lines. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export class HelperClient {
  private readonly client: UnixGrpcClient;

  constructor(readonly socketPath: string = DEFAULT_HELPER_SOCKET) {
    this.client = new UnixGrpcClient(socketPath, helperServiceCodecs(), { maxReceiveBytes: MAX_REPLY_BYTES });
  }

  private async call(method: string, request: object): Promise<Record<string, unknown>> {
    try {
      return await this.client.unary(method, request);
    } catch (error) {
      if (!(error instanceof GrpcCallError)) throw error;
      if (!error.reachedServer) {
        throw errorFromStatus(
          error.code,
          `cannot reach tsov-helper at ${this.socketPath} (${error.message}); start it (systemctl start tsov-helper), or make the policy's helper.socket name its socket`,
        );
      }
      throw errorFromStatus(error.code, error.message);
    }
  }

  async probe(directory: string, refresh = false): Promise<ProbeReport> {
    return probeReportFromWire(await this.call('Probe', { directory, refresh }));
  }

  async mount(request: OverlayMountRequest): Promise<MountView> {
    return mountRecordFromWire(await this.call('Mount', mountRequestToWire(request)));
  }

  async unmount(id: number, owner: string, detach = false): Promise<{ detached: boolean }> {
    const reply = await this.call('Unmount', { id, owner, detach });
    return { detached: reply.detached === true };
  }

  async release(owner: string, detach = false): Promise<number[]> {
    const reply = await this.call('Release', { owner, detach });
    return ((reply.released ?? []) as unknown[]).map(Number);
  }

  async list(owner = ''): Promise<MountView[]> {
    const reply = await this.call('List', { owner });
    return ((reply.mounts ?? []) as Array<Record<string, unknown>>).map(mountRecordFromWire);
  }

  close(): void {
    this.client.close();
  }
}
