/**
 * Snapshot directories made ahead of time. Making snapshots/<id>/{fs,work}
 * and fsyncing it costs several system calls and three fsyncs; done in
 * Prepare, that is most of its latency (containerd unpacks layers one after
 * another, so it waits for each). Instead a few empty, already durable
 * directories wait in snapshots/ itself, each under an id reserved for it,
 * and Prepare takes one: the snapshot gets the spare's id, and what is left
 * for the reply to wait on is the metadata commit alone (no rename, no fsync
 * of snapshots/: the spare's entry in it was synced when it was made).
 *
 * No record names a spare, so everything that looks for directories without
 * a record must ask has() first: Cleanup leaves the ones this process keeps.
 * Spares are made in batches, each batch's directories then one fsync of
 * snapshots/ for all of them. The ones left at close are deleted; a crash's
 * leftovers are empty directories no record names, removed by Cleanup like
 * any other (and their ids are never given again: ids are reserved above
 * every directory found at start).
 *
 * The pool grows with demand: a Prepare that finds none ready (concurrent
 * Prepares took them faster than a batch is made) doubles the target, up to
 * maxTarget. Each Prepare that finds none posts a job of its own to the
 * filesystem thread and waits for it, and each small batch is one more: under
 * 8 concurrent Prepare-Commit-Remove loops a pool of 16 ran dry ~60 times a
 * second, and the thread's wake-ups (postMessage, ~160 µs of the loop apiece
 * on this 2-vCPU VM while the clients run) delayed every call behind them. An
 * unpack (one Prepare every 20-40 ms, the layer's apply between) finds the
 * pool empty only when a refill takes longer than half the pool's Prepares,
 * and a pool whose refills fail (a full disk) does not grow. A grown pool
 * stays grown until the process stops: its spares are three empty
 * directories each.
 */
import type { Logger } from '../common/logger';

export interface SpareDirectoriesOptions {
  /** How many to keep ready at first: refilled up to the target in one batch when half are taken. */
  target: number;
  /** The most the target grows to when Prepares find none ready (default: target, no growth). */
  maxTarget?: number;
  /** A fresh snapshot id, never given before (MetadataStore.reserveId). */
  reserve: () => number;
  /** Makes snapshots/<id> for each id, each durable with its entry in snapshots/. */
  make: (ids: number[]) => Promise<void>;
  /** The same, for the first fill at start (default: make). */
  makeAtStart?: (ids: number[]) => Promise<void>;
  /** Deletes snapshots/<id> for each id (a batch that failed half made, or the spares left at close). */
  discard: (ids: number[]) => Promise<void>;
  logger: Logger;
}

export class SpareDirectories {
  private readonly ready: number[] = [];
  /** Ids of the batch being made: not ready yet, but their directories may exist already. */
  private readonly making = new Set<number>();
  private filling: Promise<void> | undefined;
  private closed = false;
  /** The last refill failed (e.g. the disk is full): said once, retried on the next refillSoon. */
  private failing = false;
  /** refillSoon has scheduled a fill that has not run yet. */
  private fillScheduled = false;
  private targetNow: number;

  constructor(private readonly options: SpareDirectoriesOptions) {
    this.targetNow = options.target;
  }

  /** Fills the pool: the first Prepare finds spares ready. A fill that fails (a full disk) is logged, not thrown: Prepare makes its own directories meanwhile. */
  async start(): Promise<void> {
    this.fill(this.options.makeAtStart ?? this.options.make);
    await this.settled();
  }

  /** A ready spare's id (the caller's snapshot takes it), or undefined when none is ready (the target then grows); the caller then calls refillSoon. */
  take(): number | undefined {
    const id = this.ready.shift();
    // Empty because refills fail (a full or read-only disk), not because of demand: no growth.
    if (id === undefined && !this.failing) this.grow();
    return id;
  }

  /** How many the pool is kept at now (it grows from options.target with demand). */
  get target(): number {
    return this.targetNow;
  }

  private grow(): void {
    const grown = Math.min(this.options.maxTarget ?? this.options.target, 2 * this.targetNow);
    if (grown <= this.targetNow || this.closed) return;
    this.options.logger.debug('spare snapshot directories ran out under concurrent Prepares: the pool grows', { from: this.targetNow, to: grown });
    this.targetNow = grown;
  }

  /**
   * Refills the pool, if half or more is taken, once the caller's turn of the
   * event loop is over. A Prepare calls it when its record is durable: a
   * batch started beside the Prepare's WAL fdatasync delayed that fdatasync
   * on this VM's ext4 (Prepare's fdatasync p90 2.4 ms against 0.45 ms, with 1
   * in 8 Prepares starting a batch).
   */
  refillSoon(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setImmediate(() => {
      this.fillScheduled = false;
      this.fill(this.options.make);
    });
  }

  /** Whether snapshots/<name> is a spare this process keeps or is making (no record names it, and none should remove it). */
  has(name: string): boolean {
    const id = Number(name);
    return this.making.has(id) || this.ready.includes(id);
  }

  /** How many are ready. */
  get count(): number {
    return this.ready.length;
  }

  /** Resolves when no refill is running (one refillSoon has scheduled included). */
  async settled(): Promise<void> {
    if (this.fillScheduled) await new Promise((resolve) => setImmediate(resolve));
    await this.filling;
  }

  /** Makes no more, and deletes the ones left: after a clean stop, snapshots/ holds only what records name. */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    const left = this.ready.splice(0);
    if (left.length > 0) await this.options.discard(left);
  }

  private fill(make: (ids: number[]) => Promise<void>): void {
    if (this.closed || this.filling !== undefined || this.ready.length > this.targetNow / 2) return;
    this.filling = this.refill(make).finally(() => {
      this.filling = undefined;
    });
  }

  private async refill(make: (ids: number[]) => Promise<void>): Promise<void> {
    while (!this.closed && this.ready.length <= this.targetNow / 2) {
      const batch = Array.from({ length: this.targetNow - this.ready.length }, () => this.options.reserve());
      batch.forEach((id) => this.making.add(id));
      try {
        await make(batch);
      } catch (error) {
        await this.options.discard(batch).catch(() => undefined);
        if (!this.failing) this.options.logger.warn('could not make a spare snapshot directory; Prepare makes its own until this works again', { error: String(error) });
        this.failing = true;
        return;
      } finally {
        batch.forEach((id) => this.making.delete(id));
      }
      this.failing = false;
      this.ready.push(...batch);
    }
  }
}
