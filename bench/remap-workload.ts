/**
 * User-namespaced containers (issue 17): `ctr run --rm --uidmap 0:H:65536
 * --gidmap 0:H:65536 --remap-labels` of the 128-layer image on containerd 2.1,
 * each run with a new id range as each new pod gets one, on
 *   overlayfs   containerd's built-in snapshotter (remap-ids: idmapped lowers),
 *   tsov        with capabilities = ["remap-ids"] (idmapped lowers),
 *   tsov-copy   the same tsov without the capability: what tsov did before,
 *               containerd copying and chowning the image for every range.
 * tsov and tsov-copy are two tsov-snapshotters (one root each), which ask a
 * tsov-helper whether idmapped layers work on their roots.
 *
 * Some runs with idmapped lowers (either snapshotter's, never tsov-copy's)
 * take ~2.5 s longer: ctr reads the image's /etc/passwd through a temporary
 * mount of the idmapped overlay of 128 lowers, and its unmount gets EBUSY for
 * all of containerd's retries, 50 × 50 ms (core/mount/mount_unix.go, unmount),
 * before it goes (`perf trace -a -e umount2` during the workload: 50 EBUSY
 * 50 ms apart, then one that succeeds). Those runs are counted, and the p50
 * of the others reported beside the p50 of all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd } from '../harness/containerd';
import { startHelperProcess, startSnapshotterProcess } from '../harness/daemon-process';
import { buildImageArchive } from '../harness/oci-image';
import { running } from '../harness/running';
import { alternate, layers, timed } from './containerd-workloads';
import type { BenchContext } from './context';
import { splitStalls, summarize, type ResultRow } from './stats';

const NAMES = ['overlayfs', 'tsov', 'tsov-copy'] as const;
const RANGE = 65536;
/** A run this much slower than its snapshotter's fastest is counted as stalled (the unmount retries take 2.5 s). */
const STALL_MS = 2000;
/** One snapshotter's remapped runs: the p50 of all, how many stalled (splitStalls), the p50 of the others. */
interface Remapped {
  name: (typeof NAMES)[number];
  p50Ms: number;
  stalled: number;
  cleanP50Ms: number;
}

/** Host ids of the first run's range; each later run takes the next range. */
const FIRST_HOST_ID = 1_000_000;

export async function remappedRun({ workDir, runs, log }: BenchContext): Promise<ResultRow[]> {
  // The containers' runtime (host uids from FIRST_HOST_ID on) walks to its bundle through these.
  fs.mkdirSync(workDir, { recursive: true });
  for (const dir of [path.dirname(workDir), workDir]) fs.chmodSync(dir, 0o711);
  const roots = { tsov: path.join(workDir, 'tsov', 'root'), copy: path.join(workDir, 'tsov-copy', 'root') };
  for (const root of Object.values(roots)) fs.mkdirSync(root, { recursive: true });
  const helperSocket = path.join(workDir, 'helper', 'run', 'helper.sock');
  const helper = startHelperProcess({ socket: helperSocket, stateDir: path.join(workDir, 'helper', 'state'), allowedRoots: Object.values(roots), extraArgs: ['--log-level', 'warn'] });
  const policy = path.join(workDir, 'policy.yaml');
  fs.writeFileSync(policy, `helper:\n  socket: ${helperSocket}\n`);
  const snapshotter = (root: string) => startSnapshotterProcess(root, path.join(path.dirname(root), 'tsov.sock'), ['--log-level', 'warn', '--config', policy]);
  return running(helper, () =>
    running(snapshotter(roots.tsov), (tsov) =>
      running(snapshotter(roots.copy), (copy) =>
      running(startContainerd(path.join(workDir, 'containerd'), tsov.socket, { version: '2.1', tsovCapabilities: ['remap-ids'], otherSnapshotters: { 'tsov-copy': copy.socket } }), async (containerd) => {
        const image = 'docker.io/tsov/bench:remap-128';
        const archive = buildImageArchive(path.join(workDir, 'image'), image, layers(128));
        for (const name of NAMES) await containerd.ctr(['images', 'import', '--snapshotter', name, archive], { timeoutMs: 600_000 });
        let range = 0;
        const count = Math.max(5, Math.ceil(runs / 2));
        const samples = await alternate(NAMES, count, 1, (name, run) => {
          const map = `0:${FIRST_HOST_ID + RANGE * range++}:${RANGE}`;
          return timed(() => containerd.ctr(['run', '--rm', '--snapshotter', name, '--uidmap', map, '--gidmap', map, '--remap-labels', image, `remap-${name}-${run}`, '/bin/true'], { timeoutMs: 600_000 }));
        });
        // Per snapshotter: the p50 of all runs, how many stalled, and the p50 of the others.
        const [builtIn, tsov, copy] = NAMES.map((name) => {
          const split = splitStalls(samples[name], STALL_MS);
          return { name, p50Ms: summarize(samples[name]).p50Ms, stalled: split.stalled, cleanP50Ms: summarize(split.clean).p50Ms };
        }) as [Remapped, Remapped, Remapped];
        log(`  remapped ctr run of a 128-layer image: ${[builtIn, tsov, copy].map((r) => `${r.name} p50 ${r.p50Ms} ms (${r.stalled} of ${count} runs stalled ~2.5 s)`).join(', ')}`);
        const workload = `ctr run --rm of a remapped container (--uidmap, --remap-labels, a new id range each run) of a 128-layer image, containerd 2.1 ×${count}`;
        return [
          { workload, metric: 'p50, tsov (remap-ids) vs built-in overlayfs', tsov: tsov.p50Ms, reference: builtIn.p50Ms, unit: 'ms', lowerIsBetter: true, target: '≤ 1.05×' },
          { workload, metric: 'p50, tsov without remap-ids (containerd chowns a copy) vs built-in overlayfs', tsov: copy.p50Ms, reference: builtIn.p50Ms, unit: 'ms', lowerIsBetter: true },
          { workload, metric: 'runs stalled ~2.5 s by the unmount of ctr\'s temporary mount (containerd\'s EBUSY retries), tsov (remap-ids) vs built-in overlayfs', tsov: tsov.stalled, reference: builtIn.stalled, unit: 'runs', lowerIsBetter: true },
          { workload, metric: 'p50 of the runs without that stall, tsov (remap-ids) vs built-in overlayfs', tsov: tsov.cleanP50Ms, reference: builtIn.cleanP50Ms, unit: 'ms', lowerIsBetter: true },
        ];
      }),
      ),
    ),
  );
}
