/**
 * containerd end to end, tsov against containerd's built-in overlayfs
 * snapshotter in the same private containerd (so only the snapshotter
 * differs), and against that same overlayfs snapshotter served by the Go
 * reference proxy (what any proxy snapshotter pays for the socket):
 * `ctr images import` (which unpacks) of an 8-layer and a 128-layer image,
 * and `ctr run --rm IMAGE ID /bin/true`. Runs alternate between the
 * snapshotters; between imports the image is removed with `--sync`, so
 * containerd's garbage collector removes its snapshots and the next import
 * unpacks every layer again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd, type PrivateContainerd } from '../harness/containerd';
import { buildImageArchive, type LayerEntry } from '../harness/oci-image';
import { running } from '../harness/running';
import { isSpareShaped } from '../harness/spare-shape';
import type { BenchContext } from './context';
import { startServer } from './servers';
import { summarize, type ResultRow, type Summary } from './stats';

/** containerd's names: built-in overlayfs, the Go reference proxy, tsov. */
const SNAPSHOTTERS = ['overlayfs', 'overlayfs-proxy', 'tsov'] as const;
type Snapshotter = (typeof SNAPSHOTTERS)[number];

/** Layer i: a directory of 8 small files and a file replaced in every layer. */
export function layers(count: number): LayerEntry[][] {
  return Array.from({ length: count - 1 }, (_, i) => [
    { dir: `layer${i}` },
    ...Array.from({ length: 8 }, (_, f) => ({ file: `layer${i}/file${f}`, content: `layer ${i} file ${f}\n`.repeat(64) })),
    { file: 'etc/last-layer', content: `${i}\n` },
  ]);
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Runs fn for each of names in turn, warmup + runs times, and returns the samples of the measured runs. */
export async function alternate<N extends string>(names: readonly N[], runs: number, warmup: number, fn: (name: N, run: number) => Promise<number>): Promise<Record<N, number[]>> {
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<N, number[]>;
  for (let run = -warmup; run < runs; run++) {
    for (const snapshotter of names) {
      const ms = await fn(snapshotter, run + warmup);
      if (run >= 0) samples[snapshotter].push(ms);
    }
  }
  return samples;
}

/**
 * Each snapshotter's snapshots/ directory: the built-in one's under containerd's
 * root, the others' under their own roots (bench/servers.ts).
 */
function snapshotDirectories(workDir: string, containerd: PrivateContainerd): Record<Snapshotter, string> {
  return {
    overlayfs: path.join(containerd.dir, 'root', 'io.containerd.snapshotter.v1.overlayfs', 'snapshots'),
    'overlayfs-proxy': path.join(workDir, 'reference', 'root', 'snapshots'),
    tsov: path.join(workDir, 'tsov', 'root', 'snapshots'),
  };
}

/**
 * Waits until a snapshotter has deleted the directories of removed snapshots
 * (tsov and the overlayfs snapshotters delete them after replying), so that
 * one run's deletions never slow down the next run's import.
 */
async function directoriesGone(dir: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  // tsov keeps up to 16 empty snapshot directories for Prepare (its spares): they stay.
  const left = () => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => !isSpareShaped(path.join(dir, name))) : []);
  while (left().length > 0) {
    if (Date.now() > deadline) throw new Error(`${dir} still holds ${left().length} directories 120 s after ctr images rm --sync`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function withContainerd<T>(workDir: string, fn: (containerd: PrivateContainerd) => Promise<T>): Promise<T> {
  return running(startServer('tsov', path.join(workDir, 'tsov')), (tsov) =>
    running(startServer('reference', path.join(workDir, 'reference')), (proxy) =>
      running(startContainerd(path.join(workDir, 'containerd'), tsov.socket, { otherSnapshotters: { 'overlayfs-proxy': proxy.socket } }), fn),
    ),
  );
}

function rows(workload: string, samples: Record<Snapshotter, number[]>, target: string): ResultRow[] {
  const [tsov, builtIn, proxy] = [samples.tsov, samples.overlayfs, samples['overlayfs-proxy']].map(summarize) as [Summary, Summary, Summary];
  return [
    { workload, metric: 'p50 vs built-in overlayfs', tsov: tsov.p50Ms, reference: builtIn.p50Ms, unit: 'ms', lowerIsBetter: true, target },
    { workload, metric: 'mean vs built-in overlayfs', tsov: tsov.meanMs, reference: builtIn.meanMs, unit: 'ms', lowerIsBetter: true },
    { workload, metric: 'p50 vs overlayfs behind the Go proxy', tsov: tsov.p50Ms, reference: proxy.p50Ms, unit: 'ms', lowerIsBetter: true },
  ];
}

function describe(samples: Record<Snapshotter, number[]>): string {
  return SNAPSHOTTERS.map((name) => `${name} p50 ${summarize(samples[name]).p50Ms} ms`).join(', ');
}

export async function containerdEndToEnd({ workDir, runs, log }: BenchContext): Promise<ResultRow[]> {
  return withContainerd(workDir, async (containerd) => {
    const result: ResultRow[] = [];
    const directories = snapshotDirectories(workDir, containerd);
    for (const layerCount of [8, 128]) {
      const image = `docker.io/tsov/bench:layers-${layerCount}`;
      const archive = buildImageArchive(path.join(workDir, `image-${layerCount}`), image, layers(layerCount));
      const importRuns = layerCount === 8 ? Math.max(3, Math.ceil(runs / 2)) : Math.max(3, Math.ceil(runs / 4));
      const samples = await alternate(SNAPSHOTTERS, importRuns, 1, async (snapshotter) => {
        const ms = await timed(() => containerd.ctr(['images', 'import', '--snapshotter', snapshotter, archive], { timeoutMs: 600_000 }));
        await containerd.ctr(['images', 'rm', '--sync', image]);
        const left = (await containerd.ctr(['snapshots', '--snapshotter', snapshotter, 'ls'])).trim().split('\n').length - 1;
        if (left !== 0) throw new Error(`${left} ${snapshotter} snapshots left after ctr images rm --sync; the next import would not unpack`);
        await directoriesGone(directories[snapshotter]);
        return ms;
      });
      const label = `ctr images import (unpack) of a ${layerCount}-layer image ×${importRuns}`;
      log(`  ${label}: ${describe(samples)}`);
      result.push(...rows(label, samples, '≤ 1.05×'));
    }

    const image = 'docker.io/tsov/bench:run';
    const archive = buildImageArchive(path.join(workDir, 'image-run'), image, []);
    for (const snapshotter of SNAPSHOTTERS) await containerd.ctr(['images', 'import', '--snapshotter', snapshotter, archive]);
    const samples = await alternate(SNAPSHOTTERS, runs, 2, (snapshotter, run) =>
      timed(() => containerd.ctr(['run', '--rm', '--snapshotter', snapshotter, image, `run-${snapshotter}-${run}`, '/bin/true'])),
    );
    const label = `ctr run --rm true ×${runs}`;
    log(`  ${label}: ${describe(samples)}`);
    result.push(...rows(label, samples, '≤ 1.05×'));
    return result;
  });
}
