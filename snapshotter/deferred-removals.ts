/**
 * Directories of removed snapshots, deleted once the snapshotter is quiet.
 *
 * Remove deletes the record durably and replies; deleting the directory is
 * work nobody waits for. containerd's own overlayfs snapshotter, configured
 * as containerd configures it (asynchronous removal), leaves the directory
 * until containerd's garbage collector calls Cleanup. tsov deletes it sooner:
 * when no snapshot has been created, committed or removed for QUIET_MS and
 * none is being (a Prepare slowed past QUIET_MS by a busy disk is not the
 * quiet time deletions wait for), when Cleanup is called, or at once when
 * more than maxPending wait. A stop does not wait for them: the next start
 * finds them named by no record and carries them over (carryOver), so a
 * restart — and containerd's calls waiting in systemd's socket meanwhile —
 * is not held up by thousands of deletions. While containerd is busy (an
 * unpack, a burst of container starts and removals) the deletions' system
 * calls and worker messages then do not compete with the calls it waits for
 * on this 2-core kind of machine.
 * A crash loses only the list: the directories are named by no record, and
 * the next start carries them over too.
 *
 * Deletions go in batches of REMOVAL_BATCH, one worker job each: one round
 * trip per directory could not keep up with a snapshotter removing hundreds
 * a second without ever being quiet (the list then grew without bound, and
 * the directories with it); a bounded batch keeps any other job queued on the
 * same worker (a Prepare making its directory) waiting for a few
 * milliseconds, not for thousands of deletions.
 *
 * Before deletion, a waiting directory may be lent (lend/giveBack): the spare
 * directories' refill reuses its wrapper and work/ for a new spare (see
 * reused-directories.ts) and hands back what is left to delete, its old fs/,
 * under the same name. A lent name is neither deleted nor left to Cleanup
 * until it comes back.
 *
 * A directory a live overlay still uses (its fs/ the upperdir, its work/ the
 * workdir: a running container's snapshot removed with ctr snapshots rm, or
 * a mount that outlived its container) is not deleted: the remover leaves it
 * (fs-worker-thread.ts), and it is held — said once, in a warning naming the
 * mount point — and tried again every heldRetryMs and at every Cleanup, and
 * deleted once nothing mounts it. containerd's overlayfs snapshotter deletes
 * it, and the container's files with it.
 *
 * Nothing is deferred without bound: when maxBacklog directories already
 * wait (removals arrive faster than the disk deletes, for minutes), add()
 * deletes its own directory before it resolves, so Remove takes as long as
 * it does with containerd's synchronous removal and the backlog stops
 * growing.
 */
import type { Logger } from '../common/logger';

/** A directory a deletion left behind, and why. */
export interface RemovalFailure {
  name: string;
  message: string;
  /** Left because a live overlay mounted here still uses it: held and tried again (not Cleanup's). */
  mountPoint?: string;
  /** Its path, for the log (default: name). */
  directory?: string;
}

export interface DeferredRemovalsOptions {
  /**
   * Deletes directories under snapshots/ (by name); resolves with those left
   * behind. A rejection leaves the whole batch for Cleanup.
   */
  remove: (names: readonly string[]) => Promise<RemovalFailure[]>;
  logger: Logger;
  /** Quiet time before deleting; default QUIET_MS. */
  quietMs?: number;
  /** More than this many waiting: deleted without waiting for quiet. */
  maxPending?: number;
  /** This many waiting or being deleted: add() deletes its own directory before it resolves. Default 2 × maxPending. */
  maxBacklog?: number;
  /** How often a directory held because it is still mounted is tried again; default HELD_RETRY_MS. */
  heldRetryMs?: number;
  /** For tests: the clock, in milliseconds. */
  now?: () => number;
}

export const QUIET_MS = 100;
export const HELD_RETRY_MS = 30_000;
export const MAX_PENDING = 4096;
export const REMOVAL_BATCH = 32;

export class DeferredRemovals {
  private readonly pending = new Set<string>();
  private readonly deleting = new Set<string>();
  /** Waiting and never lent: what lend offers (one lent before holds only what reuse left). */
  private readonly unlent = new Set<string>();
  /** Lent to the spares' refill (see lend): not deleted until given back. */
  private readonly lent = new Set<string>();
  /** Carried over from the last process (carryOver) and not deleted yet, wherever they are. */
  private readonly carried = new Set<string>();
  /** Left by a deletion because a live overlay still uses them, name → mount point: tried again later. */
  private readonly held = new Map<string, string>();
  /** The mount point each held directory was last reported at (a warning once per directory and mount point), and its path for the log. */
  private readonly reported = new Map<string, { mountPoint: string; directory: string }>();
  private heldTimer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  /** Calls running now (during): no deletion starts while one does. */
  private inFlight = 0;
  /** Set by stopped(): nothing more is deleted. */
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  /** The quiet time has passed: deleting once the calls that arrived meanwhile are read (see arm). */
  private confirming: NodeJS.Immediate | undefined;
  private running: Promise<void> | undefined;
  private readonly quietMs: number;
  private readonly maxPending: number;
  private readonly maxBacklog: number;
  private readonly heldRetryMs: number;
  private readonly now: () => number;

  constructor(private readonly options: DeferredRemovalsOptions) {
    this.quietMs = options.quietMs ?? QUIET_MS;
    this.maxPending = options.maxPending ?? MAX_PENDING;
    this.maxBacklog = options.maxBacklog ?? 2 * this.maxPending;
    this.heldRetryMs = options.heldRetryMs ?? HELD_RETRY_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * A removed snapshot's directory, to be deleted later; resolves at once,
   * or, with maxBacklog already waiting, once this one is deleted (or left
   * for Cleanup).
   */
  async add(name: string): Promise<void> {
    this.busy();
    if (this.notYetDeleted >= this.maxBacklog) {
      this.start();
      this.deleting.add(name);
      await this.deleteBatch([name]);
      return;
    }
    this.enqueue(name);
    if (this.pending.size > this.maxPending) this.start();
  }

  /**
   * Directories a previous process left (a stop does not wait for deletions;
   * a crash's spares): waiting like removed snapshots', deleted once quiet,
   * and lent to the spares' refill meanwhile.
   */
  carryOver(names: readonly string[]): void {
    for (const name of names) {
      this.enqueue(name);
      this.carried.add(name);
    }
    this.deleteWhenDue();
  }

  /**
   * Deletes what carryOver was given now and resolves once none of it is left
   * (deleted, or left for Cleanup with a logged failure): Cleanup deletes
   * every directory no record names, and these are such. Removals of this
   * process's own are not waited for.
   */
  async carriedOverGone(): Promise<void> {
    while (this.carried.size > 0 && !this.stopping) {
      this.start();
      // Lent to the refill: back soon, then deleted like the others.
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, 10)));
    }
  }

  /** Something happened that a deletion should not slow down: quiet starts again from now. */
  busy(): void {
    this.lastActivity = this.now();
    this.armIfWaiting();
  }

  /**
   * Runs a call that a deletion should not slow down: quiet starts once it
   * has ended (and no other is running), not when it started.
   */
  async during<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.busy();
    try {
      return await call();
    } finally {
      this.inFlight--;
      this.busy();
    }
  }

  /**
   * Up to max waiting directories never lent before, the longest waiting
   * first, taken out of the queue until giveBack: their names stay reserved
   * (has() is true) and nothing deletes them meanwhile.
   */
  lend(max: number): string[] {
    const names: string[] = [];
    for (const name of this.unlent) {
      if (names.length >= max) break;
      names.push(name);
    }
    for (const name of names) {
      this.unlent.delete(name);
      this.pending.delete(name);
      this.lent.add(name);
    }
    return names;
  }

  /** Lent names back in the queue, to be deleted like any other (whatever is left under them); never lent again. */
  giveBack(names: readonly string[]): void {
    for (const name of names) {
      if (this.lent.delete(name)) this.pending.add(name);
    }
    this.deleteWhenDue();
  }

  /** Waiting, lent, being deleted or held (Cleanup leaves these alone). */
  has(name: string): boolean {
    return this.pending.has(name) || this.deleting.has(name) || this.lent.has(name) || this.held.has(name);
  }

  get waiting(): number {
    return this.pending.size;
  }

  /** Waiting, lent, being deleted or held now (the snapshotter's metric). */
  get notYetDeleted(): number {
    return this.pending.size + this.deleting.size + this.lent.size + this.held.size;
  }

  /** Kept because a live overlay still used them when last tried, name → mount point (until deleted). */
  get stillMounted(): ReadonlyMap<string, string> {
    return new Map([...this.reported].map(([name, report]) => [name, report.mountPoint]));
  }

  /** How many are kept because a live overlay still used them when last tried (the snapshotter's metric). */
  get stillMountedCount(): number {
    return this.reported.size;
  }

  /** Starts deleting everything waiting now, held ones too, without waiting for it. */
  flushSoon(): void {
    this.releaseHeld();
    this.start();
  }

  /** Deletes everything waiting now, held ones too; resolves when no deletion runs. */
  async flush(): Promise<void> {
    this.releaseHeld();
    this.start();
    while (this.running !== undefined) await this.running;
  }

  /**
   * For a stop: no deletion starts from now on, the one in flight ends after
   * its batch; resolves when none runs. What still waits stays on disk, for
   * the next start to carry over.
   */
  async stopped(): Promise<void> {
    this.stopping = true;
    this.disarm();
    clearTimeout(this.heldTimer);
    while (this.running !== undefined) await this.running;
  }

  /** Stops the timers (the owner flushes first if it wants the directories gone). */
  close(): void {
    this.disarm();
    clearTimeout(this.heldTimer);
  }

  /** Waiting, and offered to the refill (lend). */
  private enqueue(name: string): void {
    this.pending.add(name);
    this.unlent.add(name);
  }

  /** Deletes at once past maxPending waiting, else once quiet. */
  private deleteWhenDue(): void {
    if (this.pending.size > this.maxPending) this.start();
    else this.armIfWaiting();
  }

  private armIfWaiting(): void {
    if (this.pending.size > 0 && this.timer === undefined && this.confirming === undefined && !this.stopping) this.arm(this.quietMs);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.quietFor() < this.quietMs) return this.arm(this.quietMs - this.quietFor());
      // A main thread held up past the quiet time (a write throttled by the kernel's
      // dirty-page limit, a long synchronous step) runs its timers before it reads the
      // calls that arrived meanwhile: those are read first, in this turn's poll phase.
      this.confirming = setImmediate(() => {
        this.confirming = undefined;
        if (this.quietFor() >= this.quietMs) this.start();
        else this.armIfWaiting();
      });
      this.confirming.unref();
    }, ms);
    this.timer.unref();
  }

  /** Since the last call ended or started; 0 while one runs. */
  private quietFor(): number {
    return this.inFlight > 0 ? 0 : this.now() - this.lastActivity;
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    clearImmediate(this.confirming);
    this.confirming = undefined;
  }

  private start(): void {
    if (this.running !== undefined || this.pending.size === 0 || this.stopping) return;
    this.disarm();
    this.running = this.deleteAll().finally(() => {
      this.running = undefined;
      // Added while deleting: wait for quiet again (or go on at once when over the bound).
      if (this.pending.size > this.maxPending) this.start();
      else if (this.pending.size > 0) this.busy();
    });
  }

  private async deleteAll(): Promise<void> {
    const names = [...this.pending];
    this.pending.clear();
    this.unlent.clear();
    for (const name of names) this.deleting.add(name);
    for (let start = 0; start < names.length; start += REMOVAL_BATCH) {
      if (this.stopping) {
        for (const name of names.slice(start)) this.deleting.delete(name);
        return;
      }
      await this.deleteBatch(names.slice(start, start + REMOVAL_BATCH));
    }
  }

  /** Deletes names, already counted as being deleted, and stops counting them; failures are logged and left for Cleanup. */
  private async deleteBatch(names: readonly string[]): Promise<void> {
    let failures: RemovalFailure[];
    try {
      failures = await this.options.remove(names);
    } catch (error) {
      failures = names.map((name) => ({ name, message: String(error) }));
    } finally {
      for (const name of names) {
        this.deleting.delete(name);
        this.carried.delete(name);
      }
    }
    const left = new Set(failures.map((failure) => failure.name));
    for (const name of names) {
      const report = this.reported.get(name);
      if (left.has(name) || report === undefined) continue;
      this.reported.delete(name);
      this.options.logger.info('a removed snapshot\'s directory kept while mounted is deleted: nothing mounts it any more', { directory: report.directory });
    }
    for (const failure of failures) {
      if (failure.mountPoint !== undefined) this.hold(failure.name, failure.mountPoint, failure.directory ?? failure.name);
      else {
        this.reported.delete(failure.name);
        this.options.logger.warn('snapshot directory left for Cleanup', { directory: failure.directory ?? failure.name, error: failure.message });
      }
    }
  }

  /** A directory a live overlay still uses: kept, said once, tried again every heldRetryMs. */
  private hold(name: string, mountPoint: string, directory: string): void {
    if (this.stopping) return;
    this.held.set(name, mountPoint);
    if (this.reported.get(name)?.mountPoint !== mountPoint) {
      this.reported.set(name, { mountPoint, directory });
      this.options.logger.warn(
        `a removed snapshot is still mounted: its directory is kept, with the files the overlay at ${mountPoint} writes, and deleted once nothing mounts it (tried again every ${this.heldRetryMs / 1000} s and at each Cleanup); ` +
          'containerd unmounts a snapshot before removing it: ctr snapshots rm of a running container\'s snapshot, or a mount that outlived its container, does not',
        { directory, mount_point: mountPoint },
      );
    }
    if (this.heldTimer === undefined) {
      this.heldTimer = setTimeout(() => {
        this.heldTimer = undefined;
        this.releaseHeld();
        this.deleteWhenDue();
      }, this.heldRetryMs);
      this.heldTimer.unref();
    }
  }

  /** Held directories back in the queue (never lent: reuse refuses a mounted one anyway). */
  private releaseHeld(): void {
    for (const name of this.held.keys()) this.pending.add(name);
    this.held.clear();
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
  }
}
