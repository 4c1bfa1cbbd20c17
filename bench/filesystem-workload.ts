/**
 * A filesystem-heavy load inside containers: bench/go/fsstress (in the spirit
 * of LTP's `fsstress -n 500 -p 20`: creates, writes, renames, unlinks, hard
 * links, mkdir/rmdir, fsync from 20 processes, starting on files of a lower
 * layer so copy-up, whiteouts and redirects all happen), bound into a busybox
 * container and timed by itself (container start is not in the figure).
 *
 * - In an OCI spec `type: overlay` mount: runc mounting the kernel overlay
 *   itself (the baseline) against tsov-runtime in host, memory and fuse mode.
 * - In the container's rootfs: containerd's overlayfs snapshotter against tsov.
 *
 * Runs alternate between the variants; each gets a fresh upper and work.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd, type PrivateContainerd } from '../harness/containerd';
import { RUNTIME_MAIN, startHelperProcess } from '../harness/daemon-process';
import { buildImageArchive } from '../harness/oci-image';
import { running } from '../harness/running';
import type { BenchContext } from './context';
import { goPrograms, startServer } from './servers';
import { summarize, type ResultRow } from './stats';

const IMAGE = 'docker.io/tsov/bench:fsstress';
const OPS_PER_PROCESS = 500;
const PROCESSES = 20;
const RUNC = '/usr/sbin/runc';

type SpecVariant = 'runc kernel overlay' | 'host' | 'memory' | 'fuse';
const SPEC_VARIANTS: readonly SpecVariant[] = ['runc kernel overlay', 'host', 'memory', 'fuse'];
type RootfsVariant = 'overlayfs' | 'tsov';
const ROOTFS_VARIANTS: readonly RootfsVariant[] = ['overlayfs', 'tsov'];

/** What fsstress prints. */
interface StressResult {
  operations: number;
  seconds: number;
  errors: number;
}

/** The lower layer fsstress starts from: stress/p<i>/d<j>/f<k>, 4 KiB each. */
function populateLower(lower: string): void {
  for (let p = 0; p < PROCESSES; p++) {
    for (let d = 0; d < 3; d++) {
      const dir = path.join(lower, 'stress', `p${p}`, `d${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(dir, `f${f}`), Buffer.alloc(4096, p + d + f));
    }
  }
}

interface Rig {
  containerd: PrivateContainerd;
  root: string;
  fsstress: string;
}

function withRig<T>(workDir: string, fn: (rig: Rig) => Promise<T>): Promise<T> {
  const root = path.join(workDir, 'roots');
  fs.mkdirSync(root, { recursive: true });
  const helperSocket = path.join(workDir, 'run', 'helper.sock');
  const policy = path.join(workDir, 'policy.yaml');
  fs.writeFileSync(
    policy,
    `helper:
  socket: ${helperSocket}
  state_dir: ${path.join(workDir, 'helper-state')}
  allowed_roots: [${root}]
runtime:
  kind: runc
  binary: ${RUNC}
translation:
  state_dir: ${path.join(root, 'mounts')}
  rules:
    - destination: /mem
      mode: memory
      scratch: true
      memory_bytes: 1073741824
`,
  );
  const helper = startHelperProcess({ socket: helperSocket, stateDir: path.join(workDir, 'helper-state'), allowedRoots: [root], extraArgs: ['--log-level', 'warn'] });
  const env = { TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(workDir, 'runtime-cache') };
  return running(helper, () =>
    running(startServer('tsov', path.join(workDir, 'tsov')), (tsov) =>
      running(startContainerd(path.join(workDir, 'containerd'), tsov.socket, { env }), async (containerd) => {
        const archive = buildImageArchive(path.join(workDir, 'image'), IMAGE, []);
        for (const snapshotter of ROOTFS_VARIANTS) await containerd.ctr(['images', 'import', '--snapshotter', snapshotter, archive]);
        return fn({ containerd, root, fsstress: goPrograms().fsstress });
      }),
    ),
  );
}

/** Runs fsstress in a container and returns its own timing. */
async function stress(rig: Rig, id: string, dir: string, seed: number, extra: { runtime: string; snapshotter: RootfsVariant; mount?: string }): Promise<number> {
  const output = await rig.containerd.runCaptured(
    id,
    IMAGE,
    ['/fsstress', '-dir', dir, '-n', String(OPS_PER_PROCESS), '-p', String(PROCESSES), '-s', String(seed)],
    [
      '--snapshotter', extra.snapshotter, '--runc-binary', extra.runtime,
      '--mount', `type=bind,src=${rig.fsstress},dst=/fsstress,options=rbind:ro`,
      ...(extra.mount === undefined ? [] : ['--mount', extra.mount]),
    ],
    { timeoutMs: 600_000 },
  );
  const result = JSON.parse(output.trim().split('\n').at(-1) ?? '') as StressResult;
  if (result.errors !== 0) throw new Error(`fsstress in ${id} reported ${result.errors} failed processes: ${output}`);
  return result.seconds * 1000;
}

export async function filesystemWorkload({ workDir, runs, log }: BenchContext): Promise<ResultRow[]> {
  const reps = Math.max(3, Math.ceil(runs / 4));
  return withRig(workDir, async (rig) => {
    const lower = path.join(rig.root, 'lower');
    populateLower(lower);
    const spec: Record<SpecVariant, number[]> = { 'runc kernel overlay': [], host: [], memory: [], fuse: [] };
    const rootfs: Record<RootfsVariant, number[]> = { overlayfs: [], tsov: [] };
    for (let rep = -1; rep < reps; rep++) {
      for (const variant of SPEC_VARIANTS) {
        const id = `spec-${variant.split(' ')[0]}-${rep + 1}`;
        const upper = path.join(rig.root, id, 'upper');
        const work = path.join(rig.root, id, 'work');
        fs.mkdirSync(upper, { recursive: true });
        fs.mkdirSync(work, { recursive: true });
        const destination = variant === 'memory' ? '/mem' : '/data';
        const mode = variant === 'host' || variant === 'fuse' ? `:x-tsov.mode=${variant}` : '';
        const ms = await stress(rig, id, `${destination}/stress`, rep + 2, {
          runtime: variant === 'runc kernel overlay' ? RUNC : RUNTIME_MAIN,
          snapshotter: 'overlayfs',
          mount: `type=overlay,src=overlay,dst=${destination},options=lowerdir=${lower}:upperdir=${upper}:workdir=${work}${mode}`,
        });
        if (rep >= 0) spec[variant].push(ms);
        fs.rmSync(path.join(rig.root, id), { recursive: true, force: true });
      }
      for (const snapshotter of ROOTFS_VARIANTS) {
        const ms = await stress(rig, `rootfs-${snapshotter}-${rep + 1}`, '/tmp/stress', rep + 2, { runtime: RUNC, snapshotter });
        if (rep >= 0) rootfs[snapshotter].push(ms);
      }
      if (rep >= 0) log(`  fsstress: round ${rep + 1}/${reps}`);
    }
    const baseline = summarize(spec['runc kernel overlay']);
    const label = (where: string) => `fsstress -n ${OPS_PER_PROCESS} -p ${PROCESSES} ×${reps}, ${where}`;
    const rows: ResultRow[] = [];
    const targets: Record<Exclude<SpecVariant, 'runc kernel overlay'>, string> = { host: '≤ 1.05×', memory: '< 1.0×', fuse: 'measured' };
    for (const variant of ['host', 'memory', 'fuse'] as const) {
      const s = summarize(spec[variant]);
      log(`  spec mount, ${variant}: p50 ${s.p50Ms} ms (runc's kernel overlay ${baseline.p50Ms} ms)`);
      rows.push({ workload: label(`spec overlay mount, tsov-runtime ${variant} mode vs runc's kernel overlay`), metric: 'p50 run time', tsov: s.p50Ms, reference: baseline.p50Ms, unit: 'ms', lowerIsBetter: true, target: targets[variant] });
    }
    const [t, o] = [summarize(rootfs.tsov), summarize(rootfs.overlayfs)];
    log(`  rootfs: tsov p50 ${t.p50Ms} ms, overlayfs p50 ${o.p50Ms} ms`);
    rows.push({ workload: label('container rootfs, tsov vs containerd overlayfs snapshotter'), metric: 'p50 run time', tsov: t.p50Ms, reference: o.p50Ms, unit: 'ms', lowerIsBetter: true });
    return rows;
  });
}
