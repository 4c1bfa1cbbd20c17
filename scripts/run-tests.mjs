#!/usr/bin/env node
// Runs ava over the compiled tests, passes its output through, and ends with
// one line "N passed, N failed" (", N skipped" when any). Exits non-zero when
// any test failed or ava itself failed. A full run (no arguments) runs the
// files that judge timing on this machine (ALONE) after the others, one at a
// time: beside the containerd matrix their figures would measure its load.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const avaCli = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const args = process.argv.slice(2);

const ALONE = [
  'dist/test/reliability/snapshotter-load.test.js',
  // containerd gives a reconnect 1 s to get the restarted snapshotter's handshake.
  'dist/test/integration/socket-activation.test.js',
];
const runs = args.length > 0 ? [args] : [['dist/test/**/*.test.js', ...ALONE.map((file) => `!${file}`)], ...ALONE.map((file) => [file])];

let passed = 0;
let failed = 0;
let skipped = 0;

const countLine = (line) => {
  if (/^not ok \d+/.test(line)) failed++;
  else if (/^ok \d+ .*# (SKIP|TODO)/.test(line)) skipped++;
  else if (/^ok \d+/.test(line)) passed++;
};

/** One ava run; resolves to whether it succeeded. */
function runAva(patterns) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [avaCli, '--tap', ...patterns], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    const failedBefore = failed;
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(countLine);
    });
    child.on('close', (code, signal) => {
      countLine(buffered);
      if (code !== 0 && failed === failedBefore) failed++; // ava failed without a failing test: count the run itself
      resolve(code === 0 && signal === null);
    });
  });
}

let ok = true;
for (const patterns of runs) ok = (await runAva(patterns)) && ok;
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
process.exit(ok && failed === 0 ? 0 : 1);
