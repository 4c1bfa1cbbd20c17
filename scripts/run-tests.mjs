#!/usr/bin/env node
// Runs ava over the compiled tests, passes its output through, and ends with
// one line "N passed, N failed" (", N skipped" when any). Exits non-zero when
// any test failed or ava itself failed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const avaCli = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const args = process.argv.slice(2);

const child = spawn(process.execPath, [avaCli, '--tap', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0;
let failed = 0;
let skipped = 0;
let buffered = '';

const countLine = (line) => {
  if (/^not ok \d+/.test(line)) failed++;
  else if (/^ok \d+ .*# (SKIP|TODO)/.test(line)) skipped++;
  else if (/^ok \d+/.test(line)) passed++;
};

child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  buffered += chunk.toString();
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  lines.forEach(countLine);
});

child.on('close', (code, signal) => {
  countLine(buffered);
  if (code !== 0 && failed === 0) failed = 1; // ava failed without a failing test: count the run itself
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failed === 0 && signal === null ? 0 : 1);
});
