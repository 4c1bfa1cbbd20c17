/**
 * Group commit. Callers that need "everything I wrote is on disk" share one
 * fsync instead of each paying for their own: a call made while no sync runs
 * starts one; calls made while one runs wait for the next one (the running
 * sync may have begun before their write) and all of them share it. Under
 * load that makes one fsync per batch of concurrent writes, and the fsync
 * itself runs on libuv's thread pool, not on the event loop.
 *
 * A sync that runs longer than a limit is a stalled disk (a lost network
 * volume, a device that stopped answering): every write call waits for it.
 * Given `stall`, the group says so once when a sync passes the limit and
 * once when it ends; runningSinceMs lets the daemon's health check see it.
 */
export interface StallReport {
  /** How long the sync running now must take before it counts as stalled. */
  limitMs: number;
  /** A sync has run for waitedMs, past the limit (once per stalled sync). */
  onStall(waitedMs: number): void;
  /** The stalled sync ended after tookMs, done or failed. */
  onRecover(tookMs: number): void;
}

/** While a sync is stalled, how often to look whether it ended (the report of its end is at most this late). */
const STALLED_RECHECK_MS = 1000;

export class GroupSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private count = 0;
  private startedMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the sync reported stalled started. */
  private stalledSinceMs: number | undefined;

  /** @param sync makes durable everything written before it was called */
  constructor(
    private readonly sync: () => Promise<void>,
    private readonly stall?: StallReport,
  ) {}

  /** Resolves once everything written before this call is durable; rejects if that sync failed. */
  wait(): Promise<void> {
    if (this.running === undefined) return this.start();
    this.next ??= this.running.then(ignore, ignore).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** Syncs started so far (for tests and metrics). */
  get syncs(): number {
    return this.count;
  }

  /** When the sync running now started (performance.now()), undefined when none runs. */
  get runningSinceMs(): number | undefined {
    return this.startedMs;
  }

  private start(): Promise<void> {
    this.count++;
    const startedMs = performance.now();
    this.startedMs = startedMs;
    // One timer at most, armed by a sync that starts while none is: an idle group runs none.
    if (this.stall !== undefined && this.timer === undefined) this.arm(this.stall.limitMs);
    const run: Promise<void> = this.sync().finally(() => {
      if (this.running === run) {
        this.running = undefined;
        this.startedMs = undefined;
      }
      if (this.stalledSinceMs === startedMs) this.recovered();
    });
    this.running = run;
    return run;
  }

  private arm(afterMs: number): void {
    this.timer = setTimeout(() => this.check(), afterMs);
    this.timer.unref();
  }

  /** The timer's look: report a sync past the limit, and look again while one runs. */
  private check(): void {
    this.timer = undefined;
    const stall = this.stall!;
    if (this.startedMs === undefined) return;
    const waitedMs = performance.now() - this.startedMs;
    if (waitedMs >= stall.limitMs && this.stalledSinceMs !== this.startedMs) {
      this.stalledSinceMs = this.startedMs;
      stall.onStall(waitedMs);
    }
    this.arm(this.stalledSinceMs === this.startedMs ? STALLED_RECHECK_MS : stall.limitMs - waitedMs);
  }

  private recovered(): void {
    const tookMs = performance.now() - this.stalledSinceMs!;
    this.stalledSinceMs = undefined;
    // The next sync to start arms a timer for its own limit, not the stalled one's recheck.
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stall!.onRecover(tookMs);
  }
}

/** How long the oldest of these syncs has run (runningSinceMs of each), 0 when none runs. Pure. */
export function oldestSyncMs(runningSinceMs: ReadonlyArray<number | undefined>, nowMs: number): number {
  const oldest = Math.min(...runningSinceMs.map((since) => since ?? Infinity));
  return oldest === Infinity ? 0 : nowMs - oldest;
}

function ignore(): void {}
