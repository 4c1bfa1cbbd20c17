/**
 * Usage of active snapshots, cached until their upper changes. CRI asks the
 * Usage of every running container's snapshot every stats_collect_period
 * (10 s); walking a writable layer of 10,000 files costs ~30 ms of system
 * calls each time, for containers that mostly wrote nothing since.
 *
 * A measurement is kept only while inotify watches on every directory of the
 * tree report nothing (writes through the container's overlay mount reach
 * the upper's inodes, and the kernel reports them on the upper's directories;
 * test/integration/usage-cache.test.ts checks that with a real overlay). A
 * value is cached only from a walk during which every directory it found was
 * already watched and no event came: a change made before its directory was
 * watched is never hidden. Watches are set from the second call on (a one-off
 * Usage, `ctr snapshots usage`, sets none). So an idle snapshot costs three
 * walks, then none; a busy one one walk per call, as without the cache.
 * Trees of more than MAX_WATCHED_DIRECTORIES directories, and a watch the kernel refuses
 * (max_user_watches), are measured every time. A cached value is also
 * dropped after maxAgeMs: inotify can overflow its queue, and a hard link
 * changed through a directory outside the tree reports nothing here.
 */
import fs from 'node:fs';
import type { MeasuredTree } from './disk-usage';
import type { DiskUsage } from './snapshot-model';

export const MAX_WATCHED_DIRECTORIES = 2000;

export interface UsageCacheOptions {
  /** Walks the tree; with directoryLimit > 0 it also lists the directories, up to that many. */
  measure: (dir: string, directoryLimit: number) => Promise<MeasuredTree>;
  maxAgeMs?: number;
  now?: () => number;
  /** fs.watch, replaceable in tests. */
  watch?: (dir: string, onChange: () => void) => fs.FSWatcher;
}

/** A snapshot whose Usage was asked before (so worth watching). */
interface Entry {
  watchers: Map<string, fs.FSWatcher>;
  /** Set by any event since the last walk began. */
  changed: boolean;
  value?: { usage: DiskUsage; at: number };
}

function watchDirectory(dir: string, onChange: () => void): fs.FSWatcher {
  const watcher = fs.watch(dir, { persistent: false }, onChange);
  watcher.on('error', onChange);
  return watcher;
}

export class UsageCache {
  private readonly entries = new Map<number, Entry>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly watch: (dir: string, onChange: () => void) => fs.FSWatcher;

  constructor(private readonly options: UsageCacheOptions) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.watch = options.watch ?? watchDirectory;
  }

  /** Usage of snapshot id, whose tree is dir. */
  async usage(id: number, dir: string): Promise<DiskUsage> {
    // The kernel queued the event of a write that returned before this call was
    // sent; the event loop may have read this call's request first in the same
    // poll: let it run the watch callbacks of that poll before trusting the cache.
    await new Promise((resolve) => setImmediate(resolve));
    let entry = this.entries.get(id);
    if (entry?.value !== undefined && !entry.changed && this.now() - entry.value.at < this.maxAgeMs) return entry.value.usage;
    if (entry === undefined) {
      entry = { watchers: new Map(), changed: false };
      this.entries.set(id, entry);
      return this.options.measure(dir, 0).then(({ size, inodes }) => ({ size, inodes }));
    }
    entry.changed = false;
    entry.value = undefined;
    const at = this.now();
    const measured = await this.options.measure(dir, MAX_WATCHED_DIRECTORIES);
    const usage = { size: measured.size, inodes: measured.inodes };
    if (this.entries.get(id) !== entry) return usage; // forgotten meanwhile
    const watched = measured.directories === undefined ? 'refused' : this.watchAll(entry, measured.directories);
    if (watched === 'refused') this.closeWatchers(entry);
    else if (watched === 'already' && !entry.changed) entry.value = { usage, at };
    return usage;
  }

  /**
   * Watches exactly these directories: 'already' when each was watched before
   * the walk, 'added' when one was not (a change in it before then went
   * unseen), 'refused' when the kernel refused a watch.
   */
  private watchAll(entry: Entry, directories: readonly string[]): 'already' | 'added' | 'refused' {
    let outcome: 'already' | 'added' = 'already';
    const wanted = new Set(directories);
    for (const [dir, watcher] of entry.watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        entry.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (entry.watchers.has(dir)) continue;
      try {
        entry.watchers.set(dir, this.watch(dir, () => (entry.changed = true)));
        outcome = 'added';
      } catch {
        // ENOSPC (max_user_watches), or the directory went away: measure every time.
        return 'refused';
      }
    }
    return outcome;
  }

  private closeWatchers(entry: Entry): void {
    for (const watcher of entry.watchers.values()) watcher.close();
    entry.watchers.clear();
  }

  /** The snapshot was committed or removed. */
  forget(id: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.closeWatchers(entry);
    this.entries.delete(id);
  }

  /** How many directories are watched (metrics, tests). */
  watchedDirectories(): number {
    let count = 0;
    for (const entry of this.entries.values()) count += entry.watchers.size;
    return count;
  }

  close(): void {
    for (const id of [...this.entries.keys()]) this.forget(id);
  }
}
