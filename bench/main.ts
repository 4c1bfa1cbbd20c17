#!/usr/bin/env node
/**
 * npm run bench [-- --only NAME ...] [--runs N] [--seconds S]
 *
 * Runs tsov's benchmarks against a reference measured in the same run and
 * writes bench/results/latest.{md,json}. Benchmarks are not tests: nothing
 * here passes or fails; the note in the README says what the numbers mean.
 * With --only, the rows of the other workloads are kept from the last run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runMain } from '../common/process-main';
import { unmountAllUnder } from '../harness/mounts';
import { containerdEndToEnd } from './containerd-workloads';
import type { Workload } from './context';
import { filesystemWorkload } from './filesystem-workload';
import { runtimeOverhead } from './runtime-overhead';
import { remappedRun } from './remap-workload';
import { activeUsage, chain, cycle, list, memory } from './snapshotter-workloads';
import { markdownTable, ratio, type ResultRow } from './stats';

const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');

const WORKLOADS: Record<string, Workload> = {
  cycle,
  chain,
  list,
  usage: activeUsage,
  memory,
  containerd: containerdEndToEnd,
  remap: remappedRun,
  filesystem: filesystemWorkload,
  'runtime-overhead': runtimeOverhead,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string', multiple: true }, runs: { type: 'string', default: '20' }, seconds: { type: 'string', default: '8' } },
  });
  const names = values.only ?? Object.keys(WORKLOADS);
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-bench-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const measured = new Map<string, ResultRow[]>();
  try {
    for (const name of names) {
      const workload = WORKLOADS[name];
      if (workload === undefined) throw new Error(`unknown workload ${name}; known: ${Object.keys(WORKLOADS).join(', ')}`);
      log(`bench: ${name}`);
      const rows = await workload({ workDir: path.join(workDir, name), runs, seconds, log });
      const measuredAt = new Date().toISOString();
      measured.set(name, rows.map((row) => ({ ...row, source: name, measuredAt })));
    }
  } finally {
    unmountAllUnder(workDir);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const rows = Object.keys(WORKLOADS).flatMap((name) => measured.get(name) ?? previousRows(name));
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.versions.node}`;
  const table = markdownTable(rows);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const dates = rows.map((row) => row.measuredAt ?? '').filter((date) => date !== '').sort();
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.md'), `Measured ${dates[0] ?? '?'} – ${dates.at(-1) ?? '?'} on ${machine}; one run, reference and tsov alternating.\n\n${table}\n`);
  const json = { machine, date: new Date().toISOString(), rows: rows.map((r) => ({ ...r, ratio: ratio(r) })) };
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`${table}\n\nmachine: ${machine}\nwritten to bench/results/latest.md and latest.json\n`);
}

/** Rows of a workload from the last written results (kept when --only skips it). */
function previousRows(workload: string): ResultRow[] {
  try {
    const previous = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, 'latest.json'), 'utf8')) as { rows: Array<ResultRow & { source?: string }> };
    return previous.rows.filter((row) => row.source === workload).map(({ ratio: _ratio, ...row }: ResultRow & { ratio?: number }) => row);
  } catch {
    return [];
  }
}

runMain('tsov bench', main);
