/**
 * A stalled disk, as the snapshotter reports it: a sync that write calls
 * wait for (the metadata WAL's fdatasync, the fsync of snapshots/) running
 * past snapshotter.disk_stall_seconds. Every Prepare, Commit and Remove then
 * waits with it, while reads (Stat, List, Mounts) are still answered from
 * memory; so the log says which sync waits and since when, and the health
 * check answers NOT_SERVING until it ends (group-sync.ts tracks the syncs).
 */
import type { Logger } from '../common/log-levels';
import type { StallReport } from './group-sync';

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/**
 * Why the health check answers NOT_SERVING while a sync has waited waitedMs
 * (`tsov health` prints it; the log names which sync).
 */
export function diskStallReason(waitedMs: number): string {
  return `a write has waited ${seconds(waitedMs)} s for the disk to make it durable (the snapshot metadata's fdatasync or the fsync of snapshots/): Prepare, Commit and Remove wait with it; check the disk or volume (dmesg, its state)`;
}

/** The log lines for one sync (what: "snapshot metadata (fdatasync of …)"). */
export function diskStallReport(logger: Logger, what: string, limitMs: number): StallReport {
  return {
    limitMs,
    onStall: (waitedMs) =>
      logger.warn(
        `the disk has not made ${what} durable for ${seconds(waitedMs)} s: calls that change snapshots (Prepare, Commit, Remove) wait for it, and the health check answers NOT_SERVING until it does; check the disk or volume (dmesg, its state)`,
        { waited_seconds: seconds(waitedMs), limit_seconds: seconds(limitMs) },
      ),
    onRecover: (tookMs) => logger.info(`the disk made ${what} durable after ${seconds(tookMs)} s: the calls that waited for it go on`, { took_seconds: seconds(tookMs) }),
  };
}
