/**
 * Whether this snapshotter can serve containerd's uid/gid mapping labels with
 * idmapped layers: the policy (snapshotter.remap_ids) and tsov-helper's probe
 * of the snapshotter's root, which mounts an overlay with idmapped lowers
 * there (the snapshotter cannot: it has no CAP_SYS_ADMIN). Asked once at
 * start and logged; while the helper cannot be reached the answer is unknown
 * and asked again, at most every RETRY_MS, when a snapshot needs it.
 */
import { FailedPreconditionError } from '../common/errors';
import { LABEL_UID_MAPPING } from '../common/id-mapping';
import type { Logger } from '../common/logger';
import type { RemapIdsSetting } from '../policy/policy-vocabulary';

/** How long an unreachable helper's "unknown" stands before a snapshot that needs the answer asks again. */
const RETRY_MS = 10_000;
/** How long a probe may take (a first probe makes about twenty test mounts) before the answer counts as unknown. */
export const PROBE_TIMEOUT_MS = 30_000;

export type IdmapState = { state: 'enabled'; reason: string } | { state: 'disabled'; reason: string } | { state: 'unknown'; reason: string };

/** tsov-helper's answer for the root (idmappedLayersSupport of its probe); rejects when the helper cannot be asked. */
export type IdmapProbe = () => Promise<{ ok: boolean; reason: string }>;

export interface IdmapSupportOptions {
  setting: RemapIdsSetting;
  probe: IdmapProbe;
  logger: Logger;
  now?: () => number;
  /** PROBE_TIMEOUT_MS unless a test says otherwise. */
  probeTimeoutMs?: number;
}

export class IdmapSupport {
  private current: IdmapState;
  private askedAtMs = -Infinity;
  private asking: Promise<IdmapState> | undefined;
  private readonly now: () => number;

  /** Never idmapped layers (snapshotter.remap_ids: off), with nothing to ask. */
  static off(logger: Logger): IdmapSupport {
    return new IdmapSupport({ setting: 'off', logger, probe: () => Promise.reject(new Error('remap_ids is off: nothing to probe')) });
  }

  constructor(private readonly options: IdmapSupportOptions) {
    this.now = options.now ?? Date.now;
    this.current =
      options.setting === 'off'
        ? { state: 'disabled', reason: 'snapshotter.remap_ids is off in the policy' }
        : { state: 'unknown', reason: 'tsov-helper has not been asked yet' };
  }

  get state(): IdmapState {
    return this.current;
  }

  /** Asks the helper (policy auto) and logs the answer; never rejects. */
  async start(): Promise<IdmapState> {
    if (this.options.setting === 'off') {
      this.options.logger.info('remap-ids: off by policy; containerd must not list "remap-ids" in [proxy_plugins.tsov] capabilities (it then copies and chowns images for user-namespaced containers)');
      return this.current;
    }
    return this.ask();
  }

  /** Resolves where idmapped layers can be served; FailedPreconditionError with the reason and the fix otherwise. */
  async require(snapshot: string): Promise<void> {
    let state = this.current;
    // A question in flight (the one start() asked, say) is waited for; an old "unknown" is asked again.
    if (this.asking !== undefined) state = await this.asking;
    else if (state.state === 'unknown' && this.now() - this.askedAtMs >= RETRY_MS) state = await this.ask();
    if (state.state === 'enabled') return;
    throw new FailedPreconditionError(
      `snapshot ${JSON.stringify(snapshot)} asks for idmapped layers (label ${LABEL_UID_MAPPING}), which tsov cannot serve: ${state.reason}. containerd asks for them only when [proxy_plugins.tsov] lists capabilities = ["remap-ids"]: ${
        state.state === 'unknown' ? 'start tsov-helper, or ' : ''
      }remove "remap-ids" there and restart containerd, and containerd copies and chowns the image for user-namespaced containers instead`,
    );
  }

  private ask(): Promise<IdmapState> {
    this.asking ??= this.askOnce().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  private async askOnce(): Promise<IdmapState> {
    this.askedAtMs = this.now();
    const { logger } = this.options;
    const timeoutMs = this.options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`tsov-helper did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      // A helper that hangs must not hold up the snapshots waiting for its answer.
      const answer = await Promise.race([this.options.probe(), timedOut]);
      this.current = answer.ok ? { state: 'enabled', reason: answer.reason } : { state: 'disabled', reason: answer.reason };
      if (answer.ok) logger.info('remap-ids: user-namespaced containers get idmapped layers (containerd needs capabilities = ["remap-ids"] in [proxy_plugins.tsov]; tsov install writes it)', { reason: answer.reason });
      else logger.warn('remap-ids: not available; containerd must copy and chown images for user-namespaced containers (leave "remap-ids" out of [proxy_plugins.tsov] capabilities)', { reason: answer.reason });
    } catch (error) {
      this.current = { state: 'unknown', reason: `tsov-helper could not probe idmapped layers: ${error instanceof Error ? error.message : String(error)}` };
      logger.warn('remap-ids: unknown until tsov-helper answers; snapshots that ask for idmapped layers are refused until then', { reason: this.current.reason });
    } finally {
      clearTimeout(timer);
    }
    return this.current;
  }
}
