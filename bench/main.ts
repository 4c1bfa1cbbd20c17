#!/usr/bin/env node
/**
 * npm run bench [-- --only NAME] [--runs N]
 *
 * Runs tsov's benchmarks against a reference measured in the same run and
 * writes bench/results/latest.{md,json}. Benchmarks are not tests: nothing
 * here passes or fails; the note in the README says what the numbers mean.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runMain } from '../common/process-main';
import { unmountAllUnder } from '../harness/mounts';
import { runtimeOverhead } from './runtime-overhead';
import { markdownTable, ratio, type ResultRow } from './stats';

const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');

const WORKLOADS: Record<string, (workDir: string, runs: number, log: (line: string) => void) => Promise<ResultRow[]>> = {
  'runtime-overhead': runtimeOverhead,
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string', multiple: true }, runs: { type: 'string', default: '20' } } });
  const names = values.only ?? Object.keys(WORKLOADS);
  const runs = Number(values.runs);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-bench-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const rows: ResultRow[] = [];
  try {
    for (const name of names) {
      const workload = WORKLOADS[name];
      if (workload === undefined) throw new Error(`unknown workload ${name}; known: ${Object.keys(WORKLOADS).join(', ')}`);
      log(`bench: ${name}`);
      rows.push(...(await workload(path.join(workDir, name), runs, log)));
    }
  } finally {
    unmountAllUnder(workDir);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.versions.node}`;
  const table = markdownTable(rows);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.md'), `Measured ${new Date().toISOString()} on ${machine}.\n\n${table}\n`);
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ machine, date: new Date().toISOString(), rows: rows.map((r) => ({ ...r, ratio: ratio(r) })) }, null, 2)}\n`);
  process.stdout.write(`${table}\n\nmachine: ${machine}\nwritten to bench/results/latest.md and latest.json\n`);
}

runMain('tsov bench', main);
