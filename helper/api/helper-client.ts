/**
 * A client of tsov-helper for the tsov CLI, tsov-runtime, the snapshotter's
 * probe and the tests, on tsov's own gRPC client (common/grpc-unix-client.ts).
 * Failures come back as the error class the helper threw (common/errors.ts,
 * mapped back from the gRPC status in common/grpc-status.ts); an unreachable
 * helper gets a message that says how to start it.
 *
 * Every call has a time limit (the policy's helper.call_timeout_seconds): a
 * helper that is stopped, hung or stuck in one mount fails the call with
 * DeadlineExceededError naming it, instead of blocking tsov-runtime create —
 * and the container start containerd and the kubelet wait for — for as long
 * as it hangs. The limit travels as grpc-timeout: the helper does not start a
 * Probe or Mount whose limit passed while it waited in the helper's queue,
 * but never cuts one short. A Mount it finishes after the caller gave up
 * stays recorded under its owner, and the owner's Release (tsov-runtime
 * delete, `tsov release`, or the helper's next start for an owner that is
 * gone) unmounts it.
 */
import { GrpcCallError, UnixGrpcClient } from '../../common/grpc-unix-client';
import { GrpcStatus, errorFromStatus } from '../../common/grpc-status';
import type { ProbeReport } from './probe-report';
import type { OverlayMountRequest } from './mount-request';
import { helperServiceCodecs, mountRecordFromWire, mountRequestToWire, probeReportFromWire, type MountView } from './wire';
import { DEFAULT_HELPER_CALL_TIMEOUT_SECONDS, DEFAULT_HELPER_SOCKET } from '../../policy/defaults';
import type { HelperDaemonSettings } from '../../policy/policy-model';

export { DEFAULT_HELPER_SOCKET };

export interface HelperClientOptions {
  /** Each call's time limit; default DEFAULT_HELPER_CALL_TIMEOUT_SECONDS. */
  timeoutSeconds?: number;
  /**
   * While no helper answers at the socket (not started yet, or restarting:
   * between the old process's exit and the new one's listen), send each call
   * again until its time limit instead of failing it at once. For
   * tsov-runtime: a helper restart must not fail the containers created
   * meanwhile. A call the helper may have seen is never sent twice.
   */
  waitForReady?: boolean;
}

/** The largest reply accepted: a List of every mount, a probe report with the kernel's log lines. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export class HelperClient {
  private readonly client: UnixGrpcClient;
  readonly timeoutSeconds: number;

  /**
   * The client the policy's helper section describes: its socket (unless the
   * caller names another, e.g. the CLI's --helper-socket) and its call limit.
   */
  static forPolicy(helper: Pick<HelperDaemonSettings, 'socket' | 'callTimeoutSeconds'>, options: { socket?: string; waitForReady?: boolean } = {}): HelperClient {
    return new HelperClient(options.socket ?? helper.socket, { timeoutSeconds: helper.callTimeoutSeconds, waitForReady: options.waitForReady ?? false });
  }

  constructor(
    readonly socketPath: string = DEFAULT_HELPER_SOCKET,
    options: HelperClientOptions = {},
  ) {
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_HELPER_CALL_TIMEOUT_SECONDS;
    this.client = new UnixGrpcClient(socketPath, helperServiceCodecs(), {
      maxReceiveBytes: MAX_REPLY_BYTES,
      timeoutMs: this.timeoutSeconds * 1000,
      waitForReady: options.waitForReady ?? false,
    });
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
      if (error.code === GrpcStatus.DEADLINE_EXCEEDED) throw errorFromStatus(error.code, this.noAnswer(method, error));
      throw errorFromStatus(error.code, error.message);
    }
  }

  /** Why a call timed out, as far as this side can tell, and what to do. */
  private noAnswer(method: string, error: GrpcCallError): string {
    const state = error.serverSilent
      ? 'it accepted the connection but has sent nothing on it: the process is stopped or hung'
      : 'it is connected but did not finish this call';
    const mountNote = method === 'Mount' ? '; the mount may still be made: the container\'s Release (tsov-runtime delete, or `tsov release <container id>`) unmounts it' : '';
    return (
      `tsov-helper at ${this.socketPath} did not answer ${method} within ${this.timeoutSeconds} s (${state})${mountNote}; ` +
      'check `systemctl status tsov-helper` and its log (journalctl -u tsov-helper), restart it if it is stuck, or raise helper.call_timeout_seconds in the policy if its calls are slow but working'
    );
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
