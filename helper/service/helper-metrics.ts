/** tsov-helper's own Prometheus metrics: live mounts by backend, mount attempts, probe answers. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProbeReport } from '../api/probe-report';
import type { HelperEvents } from './helper-service';

export class HelperMetrics implements HelperEvents {
  private readonly attempts: Counter<'backend' | 'result'>;
  private readonly probeChecks: Gauge<'filesystem' | 'directory' | 'check'>;

  /** @param liveMounts the journal's mounts by backend, read at scrape time */
  constructor(registry: Registry, liveMounts: () => Record<string, number>) {
    this.attempts = new Counter({ name: 'tsov_helper_mount_attempts_total', help: 'Mount requests by backend and result (mounted, refused, failed)', labelNames: ['backend', 'result'], registers: [registry] });
    this.probeChecks = new Gauge({ name: 'tsov_helper_probe_check', help: 'Probe answers: 1 works, 0 does not', labelNames: ['filesystem', 'directory', 'check'], registers: [registry] });
    new Gauge({
      name: 'tsov_helper_mounts',
      help: "Mounts in the helper's journal, by backend",
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [backend, count] of Object.entries(liveMounts())) this.set({ backend }, count);
      },
    });
  }

  mountAttempt(backend: string, result: 'mounted' | 'refused' | 'failed'): void {
    this.attempts.inc({ backend, result });
  }

  probed(report: ProbeReport): void {
    for (const check of [...report.upperChecks, ...report.mountChecks, report.fuseOverlayfs]) {
      this.probeChecks.set({ filesystem: report.filesystem, directory: report.directory, check: check.name }, check.ok ? 1 : 0);
    }
  }
}
