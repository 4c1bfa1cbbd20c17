/**
 * A client of tsov-helper for the tsov CLI, tsov-runtime and the tests.
 * Failures come back as the error class the helper threw (common/errors.ts,
 * mapped back from the gRPC status in common/grpc-status.ts); an unreachable
 * helper gets a message that says how to start it.
 */
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { errorFromStatus } from '../../common/grpc-status';
import type { ProbeReport } from './probe-report';
import type { OverlayMountRequest } from './mount-request';
import { helperServiceConstructor, mountRecordFromWire, mountRequestToWire, probeReportFromWire, type MountView } from './wire';
import { DEFAULT_HELPER_SOCKET } from '../../policy/defaults';

export { DEFAULT_HELPER_SOCKET };

/** grpc-js's "No connection established. Last error: Error: connect ENOENT /x. Resolution note: " as "connect ENOENT /x". Pure. */
export function connectionFailure(details: string): string {
  const reason = details
    .replace(/\s*Resolution note:.*$/s, '')
    .replace(/^No connection established\. Last error: (Error: )?/, '')
    .replace(/\.$/, '')
    .trim();
  return reason === '' ? 'no connection' : reason;
}

type Callback = (error: ServiceError | null, reply: Record<string, unknown>) => void;
type Method = (request: unknown, callback: Callback) => void;

export class HelperClient {
  private readonly client: Client & Record<string, Method>;

  constructor(readonly socketPath: string = DEFAULT_HELPER_SOCKET) {
    const Constructor = helperServiceConstructor();
    this.client = new Constructor(`unix:${socketPath}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    }) as unknown as Client & Record<string, Method>;
  }

  private call(method: string, request: unknown): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.client[method]!.call(this.client, request, (error, reply) => {
        if (error === null) resolve(reply);
        else if (error.code === status.UNAVAILABLE) {
          reject(
            errorFromStatus(
              error.code,
              `cannot reach tsov-helper at ${this.socketPath} (${connectionFailure(error.details)}); start it (systemctl start tsov-helper), or make the policy's helper.socket name its socket`,
            ),
          );
        } else reject(errorFromStatus(error.code, error.details || error.message));
      });
    });
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
