/**
 * What tsov-runtime adds per container when the spec has no overlay entries:
 * `ctr run --rm IMAGE ID true` through a private containerd and runc, with
 * `--runc-binary /usr/sbin/runc` and with `--runc-binary tsov-runtime`,
 * alternated so both see the same machine state.
 */
import path from 'node:path';
import { startContainerd } from '../harness/containerd';
import { RUNTIME_MAIN } from '../harness/daemon-process';
import { buildImageArchive } from '../harness/oci-image';
import type { BenchContext } from './context';
import { round, summarize, type ResultRow } from './stats';

const IMAGE = 'docker.io/tsov/bench:runtime';

export async function runtimeOverhead({ workDir, runs, log }: BenchContext): Promise<ResultRow[]> {
  const containerd = await startContainerd(path.join(workDir, 'containerd'), path.join(workDir, 'unused.sock'), {
    env: { TSOV_RUNTIME_CACHE: path.join(workDir, 'runtime-cache') },
  });
  try {
    await containerd.ctr(['images', 'import', buildImageArchive(path.join(workDir, 'image'), IMAGE, [])]);
    const runOnce = async (binary: string, id: string) => {
      const started = process.hrtime.bigint();
      await containerd.ctr(['run', '--rm', '--runc-binary', binary, IMAGE, id, '/bin/true']);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const plain: number[] = [];
    const wrapped: number[] = [];
    for (let i = -2; i < runs; i++) {
      const a = await runOnce('/usr/sbin/runc', `plain-${i + 2}`);
      const b = await runOnce(RUNTIME_MAIN, `wrapped-${i + 2}`);
      if (i >= 0) {
        plain.push(a);
        wrapped.push(b);
      }
      if (i >= 0 && (i + 1) % 5 === 0) log(`  runtime-overhead: ${i + 1}/${runs}`);
    }
    const p = summarize(plain);
    const w = summarize(wrapped);
    log(`  runtime-overhead: runc p50 ${p.p50Ms} ms, tsov-runtime p50 ${w.p50Ms} ms, +${round(w.p50Ms - p.p50Ms)} ms per container`);
    return [
      { workload: `ctr run --rm true ×${runs} (no overlay entries)`, metric: 'p50 per container', tsov: w.p50Ms, reference: p.p50Ms, unit: 'ms', lowerIsBetter: true, target: 'runc + 25 ms' },
      { workload: `ctr run --rm true ×${runs} (no overlay entries)`, metric: 'added per container (p50), against the 25 ms budget', tsov: round(w.p50Ms - p.p50Ms), reference: 25, unit: 'ms', lowerIsBetter: true, target: '≤ 1.0×' },
    ];
  } finally {
    await containerd.stop();
  }
}
