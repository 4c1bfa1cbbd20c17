/**
 * Snapshots API workloads (cycle, chain, list) and daemon memory, run by one
 * Go load driver (containerd's own proxy client) against tsov-snapshotter and
 * against the reference: containerd's overlayfs snapshotter served by
 * bench/go/reference-proxy. Each measurement gets a fresh server on a fresh
 * root, so only the server differs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DaemonProcess } from '../harness/daemon-process';
import { goPrograms, startServer, type Server } from './servers';
import { round, type ResultRow } from './stats';
import type { BenchContext } from './context';

const SERVERS: readonly Server[] = ['reference', 'tsov'];

/** What the Go load driver prints. */
interface DriverResult {
  workload: string;
  operations: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Per kind of call; the mean (what a sequential caller's rate follows) and p90 too, in latest.json. */
  measurements?: Record<string, { count: number; meanMs: number; p50Ms: number; p90Ms: number; p99Ms: number }>;
  /** Added here: the server's CPU time (user + system, all threads) per operation. */
  serverCpuMsPerOperation?: number;
}

/** Runs fn against a fresh server of each kind, reference first (or tsov first when tsovFirst). */
async function perServer<T>(context: BenchContext, name: string, fn: (daemon: DaemonProcess, server: Server) => Promise<T>, tsovFirst = false): Promise<Record<Server, T>> {
  const results: Partial<Record<Server, T>> = {};
  for (const server of tsovFirst ? [...SERVERS].reverse() : SERVERS) {
    const daemon = await startServer(server, path.join(context.workDir, name, server));
    try {
      results[server] = await fn(daemon, server);
    } finally {
      await daemon.stop();
    }
  }
  return results as Record<Server, T>;
}

/**
 * Timed loads are split into rounds, alternating which server goes first, and
 * reported as the median round: this machine's disk speed drifts by tens of
 * percent over a minute, and one long run each would measure the drift.
 */
const CYCLE_ROUNDS = 3;

/**
 * Each cycle load runs on a fresh server first for CYCLE_WARMUP_SECONDS, then
 * is measured on the same server. tsov's first seconds are spent compiling:
 * V8's optimizing compiler took ~1 s of CPU on a thread of its own in the
 * first 8 s of a 1-worker cycle (213 functions, --trace-opt), on the two
 * vCPUs the load and the server share, and the 500-ms windows of a fresh
 * daemon's cycle times fell until ~2.5 s. A Go server has nothing to compile.
 * The warm figures are the targets' (a daemon serves for as long as its node
 * runs); the warm-up's own figures are reported too, as the first seconds of
 * a fresh daemon (coldRows).
 */
const CYCLE_WARMUP_SECONDS = 3;

interface WarmedResult extends DriverResult {
  /** The same load over the server's first CYCLE_WARMUP_SECONDS. */
  cold: DriverResult;
}

async function inRounds(context: BenchContext, name: string, fn: (daemon: DaemonProcess) => Promise<WarmedResult>): Promise<Record<Server, WarmedResult>> {
  const rounds: Array<Record<Server, WarmedResult>> = [];
  for (let round = 0; round < CYCLE_ROUNDS; round++) rounds.push(await perServer(context, `${name}-${round}`, fn, round % 2 === 1));
  const combine = (server: Server): WarmedResult => {
    const results = rounds.map((r) => r[server]);
    return { ...medianRound(results), cold: medianRound(results.map((r) => r.cold)) };
  };
  return { reference: combine('reference'), tsov: combine('tsov') };
}

/** Each figure of the rounds' results, the median of its values (counts summed). */
function medianRound(results: readonly DriverResult[]): DriverResult {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const calls = Object.keys(results[0]?.measurements ?? {});
  return {
    workload: results[0]!.workload,
    operations: results.reduce((sum, r) => sum + r.operations, 0),
    perSecond: median(results.map((r) => r.perSecond)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    serverCpuMsPerOperation: median(results.map((r) => r.serverCpuMsPerOperation ?? Number.NaN)),
    measurements: Object.fromEntries(
      calls.map((call) => {
        const each = results.map((r) => r.measurements![call]!);
        const medianOf = (field: 'meanMs' | 'p50Ms' | 'p90Ms' | 'p99Ms') => median(each.map((m) => m[field]));
        return [call, { count: each.reduce((sum, m) => sum + m.count, 0), meanMs: medianOf('meanMs'), p50Ms: medianOf('p50Ms'), p90Ms: medianOf('p90Ms'), p99Ms: medianOf('p99Ms') }];
      }),
    ),
  };
}

async function drive(socket: string, args: readonly string[]): Promise<DriverResult> {
  const { stdout } = await promisify(execFile)(goPrograms().driver, ['-address', socket, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as DriverResult;
}

/** A process's CPU time so far (user + system, all threads), in ms, from /proc/PID/stat. */
function cpuMs(pid: number): number {
  // After the command name (which may hold spaces) come fields 3.. ; utime and stime are fields 14 and 15.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/**
 * The load's result with the server's CPU time per operation: how much work
 * each server does for the same calls, which this VM's drifting disk speed
 * does not move the way it moves throughput.
 */
async function withServerCpu(daemon: DaemonProcess, load: () => Promise<DriverResult>): Promise<DriverResult> {
  const pid = daemon.process.pid!;
  const before = cpuMs(pid);
  const result = await load();
  return { ...result, serverCpuMsPerOperation: round((cpuMs(pid) - before) / result.operations, 3) };
}

/** VmRSS or VmHWM (peak RSS) of a process, in MiB. */
function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return kibFieldMiB(`/proc/${pid}/status`, field);
}

/** A "Field: N kB" line of a /proc file, in MiB. */
function kibFieldMiB(file: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync(file, 'utf8'));
  if (match === null) throw new Error(`no ${field} in ${file}`);
  return round(Number(match[1]) / 1024, 1);
}

/**
 * RSS counts every page a process has mapped, including the clean, shared
 * pages of its executable (for node, measured here: ~34 MiB of its 94 MiB binary, shared by
 * every node process). PSS divides shared pages among their users; private
 * memory is what this process alone holds.
 */
function memoryBreakdown(pid: number): { rss: number; pss: number; private: number } {
  const rollup = `/proc/${pid}/smaps_rollup`;
  return {
    rss: kibFieldMiB(rollup, 'Rss'),
    pss: kibFieldMiB(rollup, 'Pss'),
    private: round(kibFieldMiB(rollup, 'Private_Clean') + kibFieldMiB(rollup, 'Private_Dirty'), 1),
  };
}

/** The cycle load with args on a fresh server: CYCLE_WARMUP_SECONDS of it, then the measured run (with the server's CPU). */
async function warmedCycle(context: BenchContext, daemon: DaemonProcess, args: readonly string[]): Promise<WarmedResult> {
  const cold = await drive(daemon.socket, ['-workload', 'cycle', ...args, '-prefix', 'warmup-', '-duration', `${CYCLE_WARMUP_SECONDS}s`]);
  const warm = await withServerCpu(daemon, () => drive(daemon.socket, ['-workload', 'cycle', ...args, '-duration', `${context.seconds / CYCLE_ROUNDS}s`]));
  return { ...warm, cold };
}

export async function cycle(context: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const files of [0, 20]) {
    for (const workers of [1, 8, 32]) {
      const label = `cycle, ${workers} worker${workers === 1 ? '' : 's'}, ${files} files`;
      const results = await inRounds(context, `cycle-${workers}-${files}`, (daemon) => warmedCycle(context, daemon, ['-workers', String(workers), '-files', String(files)]));
      context.log(`  ${label}: tsov ${round(results.tsov.perSecond)}/s, reference ${round(results.reference.perSecond)}/s`);
      const headline = workers === 8;
      rows.push(
        { workload: label, metric: 'cycles per second', tsov: round(results.tsov.perSecond), reference: round(results.reference.perSecond), unit: '/s', lowerIsBetter: false, target: headline ? '≥ 1.5×' : undefined },
        { workload: label, metric: 'p50 per cycle', tsov: results.tsov.p50Ms, reference: results.reference.p50Ms, unit: 'ms', lowerIsBetter: true },
        { workload: label, metric: 'p99 per cycle', tsov: results.tsov.p99Ms, reference: results.reference.p99Ms, unit: 'ms', lowerIsBetter: true, target: headline ? '≤ 1.0×' : undefined },
        { workload: label, metric: 'server CPU per cycle', tsov: results.tsov.serverCpuMsPerOperation!, reference: results.reference.serverCpuMsPerOperation!, unit: 'ms', lowerIsBetter: true },
      );
      if (headline) rows.push(...callRows(label, results, ['Prepare', 'Mounts', 'Commit', 'Stat', 'Remove']));
      if (files === 0) rows.push(...coldRows(label, results));
      if (headline && files === 0) rows.push(...(await atOneRate(context, results.reference.perSecond)));
    }
  }
  return rows;
}

/** The warm-up's figures: what a fresh daemon's first seconds give (median of the rounds). */
function coldRows(label: string, results: Record<Server, WarmedResult>): ResultRow[] {
  const cold = `${label}, a fresh server's first ${CYCLE_WARMUP_SECONDS} s (the warm-up, not counted above)`;
  return [
    { workload: cold, metric: 'cycles per second', tsov: round(results.tsov.cold.perSecond), reference: round(results.reference.cold.perSecond), unit: '/s', lowerIsBetter: false },
    { workload: cold, metric: 'p99 per cycle', tsov: results.tsov.cold.p99Ms, reference: results.reference.cold.p99Ms, unit: 'ms', lowerIsBetter: true },
    ...callRows(cold, { tsov: results.tsov.cold, reference: results.reference.cold }, ['Mounts', 'Stat']),
  ];
}

/** Each call's p50 within the cycle. */
function callRows(label: string, results: Record<Server, DriverResult>, calls: readonly string[]): ResultRow[] {
  return calls.flatMap((call) => {
    const t = results.tsov.measurements?.[call];
    const r = results.reference.measurements?.[call];
    return t === undefined || r === undefined ? [] : [{ workload: label, metric: `${call} p50`, tsov: t.p50Ms, reference: r.p50Ms, unit: 'ms', lowerIsBetter: true }];
  });
}

/**
 * The 8-worker cycle again, both servers held to one rate: two thirds of the
 * reference's own, which both can hold (paced, neither reaches its unpaced
 * rate: a cycle no longer starts the moment the last one ends). Unpaced, tsov
 * runs 1.5-2x the reference's cycles on the same two cores, and a read's wait
 * grows with the load it shares them with; paced, the reads of the two are
 * compared under the same load.
 */
async function atOneRate(context: BenchContext, referenceRate: number): Promise<ResultRow[]> {
  const rate = Math.max(1, Math.round((referenceRate * 2) / 3));
  const label = `cycle, 8 workers, 0 files, both held to ${rate} cycles/s (2/3 of the reference's own rate)`;
  const results = await inRounds(context, 'cycle-8-0-paced', (daemon) => warmedCycle(context, daemon, ['-workers', '8', '-files', '0', '-rate', String(rate)]));
  context.log(`  ${label}: tsov ${round(results.tsov.perSecond)}/s, reference ${round(results.reference.perSecond)}/s`);
  return [
    { workload: label, metric: 'cycles per second', tsov: round(results.tsov.perSecond), reference: round(results.reference.perSecond), unit: '/s', lowerIsBetter: false },
    { workload: label, metric: 'p99 per cycle', tsov: results.tsov.p99Ms, reference: results.reference.p99Ms, unit: 'ms', lowerIsBetter: true },
    ...callRows(label, results, ['Mounts', 'Stat']),
    { workload: label, metric: 'server CPU per cycle', tsov: results.tsov.serverCpuMsPerOperation!, reference: results.reference.serverCpuMsPerOperation!, unit: 'ms', lowerIsBetter: true },
  ];
}

export async function chain(context: BenchContext): Promise<ResultRow[]> {
  const calls = String(context.runs * 100);
  const results = await perServer(context, 'chain', (daemon) => drive(daemon.socket, ['-workload', 'chain', '-layers', '128', '-calls', calls]));
  const phase = (server: 'tsov' | 'reference', name: 'first' | 'next') => {
    const measured = results[server].measurements?.[name];
    if (measured === undefined) throw new Error(`the load driver reported no ${name} Mounts measurement`);
    return measured;
  };
  // The first calls after the chain is made include V8 compiling tsov's Mounts path; the
  // next ones are what a daemon that has served Mounts before answers (README, Benchmarks).
  const rows = (name: 'first' | 'next', label: string, target: string | undefined): ResultRow[] => [
    { workload: label, metric: 'p50', tsov: phase('tsov', name).p50Ms, reference: phase('reference', name).p50Ms, unit: 'ms', lowerIsBetter: true, target },
    { workload: label, metric: 'p99', tsov: phase('tsov', name).p99Ms, reference: phase('reference', name).p99Ms, unit: 'ms', lowerIsBetter: true, target },
  ];
  return [
    ...rows('first', `Mounts of a view on 128 layers ×${calls}, the first calls after the chain is made`, undefined),
    ...rows('next', `Mounts of a view on 128 layers ×${calls}, the next ${calls}`, '≤ 1.0×'),
  ];
}

export async function list(context: BenchContext): Promise<ResultRow[]> {
  const calls = String(context.runs * 2);
  const results = await perServer(context, 'list', (daemon) => drive(daemon.socket, ['-workload', 'list', '-snapshots', '2000', '-calls', calls]));
  const rows: ResultRow[] = [];
  for (const kind of ['full', 'filtered'] as const) {
    const t = results.tsov.measurements?.[kind];
    const r = results.reference.measurements?.[kind];
    if (t === undefined || r === undefined) throw new Error(`the load driver reported no ${kind} List measurement`);
    const label = `List of 2,000 labelled snapshots, ${kind === 'full' ? 'all' : '1 in 20 by label'} ×${calls}`;
    rows.push({ workload: label, metric: 'p50', tsov: t.p50Ms, reference: r.p50Ms, unit: 'ms', lowerIsBetter: true, target: '≤ 1.0×' });
  }
  return rows;
}

/** Usage of a running container's active snapshot (CRI asks every 10 s per container). */
export async function activeUsage(context: BenchContext): Promise<ResultRow[]> {
  const calls = String(Math.max(20, context.runs * 5));
  const rows: ResultRow[] = [];
  for (const writeEach of [false, true]) {
    const args = ['-workload', 'usage', '-files', '10000', '-calls', calls, ...(writeEach ? ['-write-each'] : [])];
    const results = await perServer(context, `usage-${writeEach ? 'busy' : 'idle'}`, (daemon) => drive(daemon.socket, args));
    const label = `Usage of an active snapshot with 10,000 files${writeEach ? ', a file written before each call' : ''} ×${calls}`;
    rows.push(
      { workload: label, metric: 'p50', tsov: results.tsov.p50Ms, reference: results.reference.p50Ms, unit: 'ms', lowerIsBetter: true, target: writeEach ? undefined : '≤ 1.0×' },
      { workload: label, metric: 'p99', tsov: results.tsov.p99Ms, reference: results.reference.p99Ms, unit: 'ms', lowerIsBetter: true },
    );
  }
  return rows;
}

/**
 * Idle memory two seconds after start, and settled, 30 s after start (when
 * start-up's work is done: tsov's filesystem thread stops 5 s after its last
 * job, and V8's memory reducer, which starts some seconds into idleness,
 * has collected start-up's garbage: 8-15 s after start on this VM); then the
 * peak RSS over 8-worker cycles. The target is judged on the settled figure:
 * what an idle daemon holds.
 */
export async function memory(context: BenchContext): Promise<ResultRow[]> {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const results = await perServer(context, 'memory', async (daemon) => {
    await sleep(2000);
    const pid = daemon.process.pid!;
    const idle = memoryBreakdown(pid);
    await sleep(28_000);
    const settled = memoryBreakdown(pid);
    await drive(daemon.socket, ['-workload', 'cycle', '-workers', '8', '-files', '20', '-duration', `${context.seconds}s`]);
    return { idle, settled, peak: memoryMiB(pid, 'VmHWM') };
  });
  const row = (metric: string, tsov: number, reference: number, target?: string): ResultRow => ({ workload: 'snapshotter daemon memory', metric, tsov, reference, unit: 'MiB', lowerIsBetter: true, target });
  return [
    row('RSS 2 s after start', results.tsov.idle.rss, results.reference.idle.rss),
    row('private memory 2 s after start', results.tsov.idle.private, results.reference.idle.private),
    row('idle RSS (30 s after start)', results.tsov.settled.rss, results.reference.settled.rss, '≤ 60 MB'),
    row('idle PSS (shared pages divided among their users)', results.tsov.settled.pss, results.reference.settled.pss),
    row('idle private memory', results.tsov.settled.private, results.reference.settled.private),
    row(`peak RSS (8-worker cycle, 20 files, ${context.seconds} s)`, results.tsov.peak, results.reference.peak),
  ];
}
