/**
 * tsov probe [DIR] [--refresh] [--json]: what overlayfs can do on the
 * filesystem holding DIR, as found by tsov-helper's test mounts.
 */
import type { ProbeReport } from '../../helper/api/probe-report';
import type { HelperClient } from '../../helper/api/helper-client';
import { formatTable } from '../table';

const mark = (ok: boolean) => (ok ? 'yes' : 'NO');

/** The report as people read it: a header, then one table of checks. Pure. */
export function formatProbeReport(report: ProbeReport): string {
  const when = new Date(report.probedAtMs).toISOString();
  const parameters = Object.entries(report.moduleParameters).map(([k, v]) => `${k}=${v}`).join(' ') || '(overlay module parameters not readable)';
  const rows = [
    ...report.upperChecks.map((c) => ['upper', c.name, mark(c.ok), c.detail]),
    ...report.mountChecks.map((c) => ['mount', c.name.replace(/^mount:/, ''), mark(c.ok), c.detail]),
    ['fuse', report.fuseOverlayfs.name, mark(report.fuseOverlayfs.ok), report.fuseOverlayfs.detail],
  ];
  const kernelLines = [...report.upperChecks, ...report.mountChecks, report.fuseOverlayfs]
    .filter((c) => !c.ok && c.kernelLog.length > 0)
    .map((c) => `  ${c.name}: ${c.kernelLog.join(' | ')}`);
  return [
    `directory:  ${report.directory}`,
    `filesystem: ${report.filesystem} (magic 0x${report.filesystemMagic.toString(16)}, device ${report.device})`,
    `kernel:     ${report.kernelRelease}`,
    `overlay:    ${parameters}`,
    `probed:     ${when}${report.cached ? ' (cached; --refresh to probe again)' : ''}`,
    '',
    formatTable(['AREA', 'CHECK', 'WORKS', 'DETAIL'], rows),
    ...(kernelLines.length > 0 ? ['', 'kernel log of failed checks:', ...kernelLines] : []),
  ].join('\n');
}

export async function probeCommand(client: HelperClient, directory: string, options: { refresh: boolean; json: boolean }): Promise<number> {
  const report = await client.probe(directory, options.refresh);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatProbeReport(report)}\n`);
  return 0;
}
