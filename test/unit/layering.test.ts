/**
 * The house plan holds: no import cycles, every top-level folder imports only
 * the folders below it, and outside helper/ only its public surface
 * (helper/api/) is imported. The rules are in .dependency-cruiser.cjs.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../support/paths';

test('dependency-cruiser finds no cycle and no import against the layering', (t) => {
  const cli = path.join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const folders = ['common', 'policy', 'helper', 'translator', 'snapshotter', 'cli', 'harness', 'bench', 'demo'];
  const result = spawnSync(process.execPath, [cli, ...folders, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  t.is(result.status, 0, `${result.stdout}${result.stderr}`);
  t.regex(result.stdout, /no dependency violations found \(\d+ modules/);
});
