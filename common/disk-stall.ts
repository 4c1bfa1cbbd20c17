/**
 * A stalled disk, as a daemon reports it: a sync that write calls wait for
 * running past the policy's disk_stall_seconds (the snapshotter: its
 * metadata WAL's fdatasync, the fsync of snapshots/; the helper: its mount
 * journal's). Every call that writes then waits with it, while reads are
 * still answered; so the log says which sync waits and since when, and the
 * health check answers NOT_SERVING, with the reason, until it ends
 * (group-sync.ts tracks the syncs).
 */
import type { Logger } from './log-levels';
import { oldestSyncMs, type StallReport } from './group-sync';

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** What a daemon's writes wait for, in its words. */
export interface DurableWrites {
  /** The calls that wait, e.g. "calls that change snapshots (Prepare, Commit, Remove)". */
  waiters: string;
  /** What the syncs make durable, for the health check's reason, e.g. "the snapshot metadata's fdatasync or the fsync of snapshots/". */
  syncs: string;
}

export const SNAPSHOTTER_WRITES: DurableWrites = {
  waiters: 'calls that change snapshots (Prepare, Commit, Remove)',
  syncs: "the snapshot metadata's fdatasync or the fsync of snapshots/",
};

export const HELPER_WRITES: DurableWrites = {
  waiters: 'calls that mount or unmount (Mount, Unmount, Release)',
  syncs: "the mount journal's fdatasync",
};

/**
 * Why the health check answers NOT_SERVING while a sync has waited waitedMs
 * (`tsov health` prints it; the log names which sync).
 */
export function diskStallReason(writes: DurableWrites, waitedMs: number): string {
  return `a write has waited ${seconds(waitedMs)} s for the disk to make it durable (${writes.syncs}): ${writes.waiters} wait with it; check the disk or volume (dmesg, its state)`;
}

/**
 * The health check's reason while the oldest sync running (each started at
 * runningSinceMs, performance.now()) has waited limitMs or more; undefined
 * (SERVING) otherwise.
 */
export function stalledReason(writes: DurableWrites, runningSinceMs: ReadonlyArray<number | undefined>, limitMs: number, nowMs = performance.now()): string | undefined {
  const waitedMs = oldestSyncMs(runningSinceMs, nowMs);
  return waitedMs > 0 && waitedMs >= limitMs ? diskStallReason(writes, waitedMs) : undefined;
}

/** The log lines for one sync (what: "the snapshot metadata (fdatasync of …)"). */
export function diskStallReport(logger: Logger, writes: DurableWrites, what: string, limitMs: number): StallReport {
  return {
    limitMs,
    onStall: (waitedMs) =>
      logger.warn(
        `the disk has not made ${what} durable for ${seconds(waitedMs)} s: ${writes.waiters} wait for it, and the health check answers NOT_SERVING until it does; check the disk or volume (dmesg, its state)`,
        { waited_seconds: seconds(waitedMs), limit_seconds: seconds(limitMs) },
      ),
    onRecover: (tookMs) => logger.info(`the disk made ${what} durable after ${seconds(tookMs)} s: the calls that waited for it go on`, { took_seconds: seconds(tookMs) }),
  };
}
