/**
 * Filesystem work of many system calls — measuring a snapshot's disk usage
 * at Commit and Usage, deleting a removed snapshot's directory, making new
 * ones (three mkdirs and an fsync each, several per message) — done on a worker thread with
 * synchronous system calls (one thread per FsWorker; its jobs run in order).
 * On the event loop each call would be a thread-pool round trip with its own
 * callback (for a layer of thousands of files, thousands of them), delaying
 * every other request. The worker starts
 * on first use and stops after a while idle.
 */
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import type { MeasuredTree } from './disk-usage';
import type { SnapshotDirectoryRequest } from './durable-fs';

/** One message to the thread; make and remove take many directories, so a batch costs one round trip. */
export type FsJobRequest =
  | { op: 'usage'; path: string; directoryLimit: number }
  | ({ op: 'make'; paths: string[]; reuse?: string[]; parent?: string } & Omit<SnapshotDirectoryRequest, 'dir' | 'reuse'>)
  | { op: 'remove'; paths: string[] };
export type FsJob = FsJobRequest & { id: number };

/** What a make job did with the removed directories it was offered. */
export interface MadeDirectories {
  /** How many spares were made from removed snapshots' directories. */
  reused: number;
}

/** A directory rm -r could not delete, or did not, and why. */
export interface RemoveFailure {
  path: string;
  message: string;
  /** Not deleted because a live overlay still uses its fs/ or work/ (mounted here): see removeUnlessMounted. */
  mountPoint?: string;
}

export type FsJobReply = {
  id: number;
  usage?: MeasuredTree;
  /** make: how many were made from removed snapshots' directories. */
  reused?: number;
  /** remove: the directories left behind (the others are gone). */
  failures?: RemoveFailure[];
  error?: { message: string; code?: string; errno?: number; syscall?: string; path?: string };
  /** The thread's V8 heap, resident bytes, after the job: at most once a second (absent otherwise). */
  heapBytes?: number;
};

interface Pending {
  resolve: (reply: FsJobReply) => void;
  reject: (error: Error) => void;
  settled: Promise<unknown>;
}

const THREAD_MAIN = path.join(__dirname, 'fs-worker-thread.js');

/** A thread needed again within this long of stopping was stopped too soon (nextIdleMs). */
export const RESTART_WINDOW_MS = 60_000;
/** The longest a thread stays after its last job. */
export const MAX_IDLE_MS = 60_000;

/**
 * How long a thread stays after its last job from now on. Starting one costs
 * ~50 ms of a vCPU here (Node's worker bootstrap: an empty worker takes as
 * long), beside whatever needed it — an image import — while an idle thread
 * holds ~10 MiB. So a thread needed again within RESTART_WINDOW_MS of
 * stopping stays twice as long from then on, up to MAX_IDLE_MS (work that
 * comes back every few seconds: containerd unpacking one image after
 * another); one not needed for longer goes back to baseMs.
 * sinceStoppedMs: undefined for the first start.
 */
export function nextIdleMs(currentMs: number, baseMs: number, sinceStoppedMs: number | undefined): number {
  if (sinceStoppedMs === undefined || sinceStoppedMs > RESTART_WINDOW_MS) return baseMs;
  return Math.max(baseMs, Math.min(currentMs * 2, MAX_IDLE_MS));
}

export class FsWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastHeapBytes = 0;
  /** How long the thread stays after its last job now (nextIdleMs). */
  private idleMs: number;
  /** When the thread last stopped for being idle (performance.now()). */
  private stoppedAtMs: number | undefined;

  /** @param baseIdleMs how long the thread stays after its last job, unless it is needed again soon after stopping (nextIdleMs) */
  constructor(private readonly baseIdleMs = 30_000) {
    this.idleMs = baseIdleMs;
  }

  /** How long the thread stays after its last job now. */
  get idleLimitMs(): number {
    return this.idleMs;
  }

  /** Disk usage of the tree at dir, and its directories up to directoryLimit (see disk-usage.ts). */
  async usage(dir: string, directoryLimit = 0): Promise<MeasuredTree> {
    const reply = await this.run({ op: 'usage', path: dir, directoryLimit });
    return reply.usage!;
  }

  /**
   * Snapshot directories, each durable (see durable-fs.ts), made in order by
   * one job; then parent fsynced, if given. reuse[i], if given, is a removed
   * snapshot's directory dirs[i] may be made from (reused-directories.ts).
   * Resolves with how many were (one a live overlay still uses never is).
   */
  async makeSnapshotDirectories(dirs: readonly string[], request: Omit<SnapshotDirectoryRequest, 'dir' | 'reuse'>, parent?: string, reuse: readonly string[] = []): Promise<MadeDirectories> {
    if (dirs.length === 0) return { reused: 0 };
    const reply = await this.run({ op: 'make', paths: [...dirs], reuse: [...reuse], kind: request.kind, owner: request.owner, parent });
    return { reused: reply.reused ?? 0 };
  }

  /**
   * rm -r each of dirs (nothing for one that does not exist), in one job,
   * except a removed snapshot's directory a live overlay still uses
   * (fs-worker-thread.ts); resolves with those left behind.
   */
  async remove(dirs: readonly string[]): Promise<RemoveFailure[]> {
    if (dirs.length === 0) return [];
    const reply = await this.run({ op: 'remove', paths: [...dirs] });
    return reply.failures ?? [];
  }

  /** The thread's V8 heap (resident bytes) as it last reported (after a job, at most once a second); 0 while no thread runs. */
  get heapBytes(): number {
    return this.worker === undefined ? 0 : this.lastHeapBytes;
  }

  /** Stops the thread once the jobs in flight are done. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending.values()].map((p) => p.settled));
    await this.stop();
  }

  private run(request: FsJobRequest): Promise<FsJobReply> {
    clearTimeout(this.idleTimer);
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    let pending!: Omit<Pending, 'settled'>;
    const settled = new Promise<FsJobReply>((resolve, reject) => {
      pending = { resolve, reject };
    });
    this.pending.set(id, { ...pending, settled: settled.catch(() => undefined) });
    worker.postMessage({ ...request, id } satisfies FsJob);
    return settled.then((reply) => {
      if (reply.error !== undefined) throw Object.assign(new Error(reply.error.message), reply.error);
      return reply;
    });
  }

  private start(): Worker {
    this.idleMs = nextIdleMs(this.idleMs, this.baseIdleMs, this.stoppedAtMs === undefined ? undefined : performance.now() - this.stoppedAtMs);
    const worker = new Worker(THREAD_MAIN);
    worker.unref();
    worker.on('message', (reply: FsJobReply) => {
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      this.lastHeapBytes = reply.heapBytes ?? this.lastHeapBytes;
      pending?.resolve(reply);
      if (this.pending.size === 0) this.idleTimer = setTimeout(() => void this.stop('idle'), this.idleMs).unref();
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the filesystem worker thread exited (code ${code})`)));
    return worker;
  }

  /** Stops the thread unless jobs are in flight; 'idle' (its idle time passed) is remembered for nextIdleMs. */
  private async stop(why: 'idle' | 'close' = 'close'): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    if (worker === undefined || this.pending.size > 0) return;
    if (why === 'idle') this.stoppedAtMs = performance.now();
    this.worker = undefined;
    await worker.terminate();
  }
}
