/** Summaries and ratio tables for benchmark samples. Pure. */

export interface Summary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

export function summarize(samplesMs: readonly number[]): Summary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, meanMs: round(mean), p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)) };
}

/**
 * Splits samples into those that took more than stallMs past the fastest
 * (a stall that has nothing to do with what is measured, such as containerd's
 * 50 × 50 ms unmount retries: see remap-workload.ts) and the others.
 */
export function splitStalls(samplesMs: readonly number[], stallMs: number): { stalled: number; clean: number[] } {
  const fastest = Math.min(...samplesMs);
  const clean = samplesMs.filter((sample) => sample - fastest <= stallMs);
  return { stalled: samplesMs.length - clean.length, clean };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface ResultRow {
  workload: string;
  metric: string;
  tsov: number;
  reference: number;
  unit: string;
  /** Whether a smaller value is better (latency) or larger (throughput). */
  lowerIsBetter: boolean;
  target?: string;
  /** The workload (bench/main.ts name) that measured it, and when. */
  source?: string;
  measuredAt?: string;
}

/** tsov / reference; counts of zero against zero are the same (1), anything against zero has no ratio (Infinity). */
export function ratio(row: ResultRow): number {
  if (row.reference === 0) return row.tsov === 0 ? 1 : Number.POSITIVE_INFINITY;
  return round(row.tsov / row.reference, 3);
}

export function markdownTable(rows: readonly ResultRow[]): string {
  const lines = ['| workload | metric | tsov | reference | tsov/reference | target |', '|---|---|---|---|---|---|'];
  for (const row of rows) {
    const r = ratio(row);
    lines.push(`| ${row.workload} | ${row.metric} | ${row.tsov} ${row.unit} | ${row.reference} ${row.unit} | ${Number.isFinite(r) ? r : '—'} | ${row.target ?? ''} |`);
  }
  return lines.join('\n');
}
