/**
 * Probe reports kept per filesystem: by device and by the mount a directory
 * was reached through (fdinfo mnt_id), since a read-only bind mount of a
 * filesystem answers differently from the filesystem itself.
 */
import fs from 'node:fs/promises';
import type { ProbeReport } from '../api/probe-report';
import type { OpenedDirectory } from '../host/opened-directory';

export class ProbeCache {
  private readonly reports = new Map<string, ProbeReport>();

  private static async keyOf(directory: OpenedDirectory): Promise<string> {
    return `${Number((await fs.stat(directory.handle)).dev)}:${directory.mountId}`;
  }

  /** The cached report for the directory's filesystem and mount, or a fresh one from probe(); refresh always probes. */
  async report(directory: OpenedDirectory, refresh: boolean, probe: () => Promise<ProbeReport>): Promise<{ report: ProbeReport; fresh: boolean }> {
    const key = await ProbeCache.keyOf(directory);
    const cached = this.reports.get(key);
    if (cached !== undefined && !refresh) return { report: { ...cached, cached: true }, fresh: false };
    const report = await probe();
    this.reports.set(key, report);
    return { report, fresh: true };
  }
}
