/**
 * Snapshot directories made ahead of time. Making snapshots/<id>/{fs,work}
 * and fsyncing it costs several thread-pool round trips and two fsyncs; done
 * in Prepare, that is most of its latency (containerd unpacks layers one
 * after another, so it waits for each). Instead a few empty, already durable
 * directories wait in <root>/spare/, and Prepare renames one into
 * snapshots/<id>: one rename, and one fsync of snapshots/ shared with other
 * creations and run alongside the metadata commit.
 *
 * spare/ is outside snapshots/, so Cleanup and every "directory without a
 * record" check never see a spare. It is emptied at start: a spare is only
 * empty directories, nothing is lost.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../common/logger';

export interface SpareDirectoriesOptions {
  /** <root>/spare */
  dir: string;
  /** How many to keep ready: refilled up to this in one batch when half are taken. */
  target: number;
  /** Makes snapshot directories at the paths, each durable (its entries fsynced). */
  make: (dirs: string[]) => Promise<void>;
  /** The same, for the first fill at start (default: make). */
  makeAtStart?: (dirs: string[]) => Promise<void>;
  logger: Logger;
}

export class SpareDirectories {
  private readonly ready: string[] = [];
  private filling: Promise<void> | undefined;
  private next = 0;
  /** The last refill failed (e.g. the disk is full): said once, retried on the next take. */
  private failing = false;

  constructor(private readonly options: SpareDirectoriesOptions) {}

  /**
   * Empties spare/ (leftovers of an earlier run) and fills it: the first
   * Prepare finds spares ready. A fill that fails (a full disk) is logged, not
   * thrown: Prepare makes its own directories meanwhile.
   */
  async start(): Promise<void> {
    await fs.rm(this.options.dir, { recursive: true, force: true });
    await fs.mkdir(this.options.dir, { mode: 0o700 });
    this.fill(this.options.makeAtStart ?? this.options.make);
    await this.settled();
  }

  /** A ready directory (the caller renames it away), or undefined when none is ready. */
  take(): string | undefined {
    const spare = this.ready.shift();
    this.fill(this.options.make);
    return spare;
  }

  /** Resolves when no refill is running. */
  async settled(): Promise<void> {
    await this.filling;
  }

  private fill(make: (dirs: string[]) => Promise<void>): void {
    if (this.filling !== undefined || this.ready.length > this.options.target / 2) return;
    this.filling = this.refill(make).finally(() => {
      this.filling = undefined;
    });
  }

  private async refill(make: (dirs: string[]) => Promise<void>): Promise<void> {
    while (this.ready.length <= this.options.target / 2) {
      const batch = Array.from({ length: this.options.target - this.ready.length }, () => path.join(this.options.dir, String(this.next++)));
      try {
        await make(batch);
      } catch (error) {
        await Promise.all(batch.map((dir) => fs.rm(dir, { recursive: true, force: true }).catch(() => undefined)));
        if (!this.failing) this.options.logger.warn('could not make a spare snapshot directory; Prepare makes its own until this works again', { error: String(error) });
        this.failing = true;
        return;
      }
      this.failing = false;
      this.ready.push(...batch);
    }
  }
}
