/**
 * Group commit. Callers that need "everything I wrote is on disk" share one
 * fsync instead of each paying for their own: a call made while no sync runs
 * starts one; calls made while one runs wait for the next one (the running
 * sync may have begun before their write) and all of them share it. Under
 * load that makes one fsync per batch of concurrent writes, and the fsync
 * itself runs on libuv's thread pool, not on the event loop.
 */
export class GroupSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private count = 0;

  /** @param sync makes durable everything written before it was called */
  constructor(private readonly sync: () => Promise<void>) {}

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

  private start(): Promise<void> {
    this.count++;
    const run: Promise<void> = this.sync().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}

function ignore(): void {}
