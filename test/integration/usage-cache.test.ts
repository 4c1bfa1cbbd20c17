/**
 * Usage of an active snapshot stays exact while it is cached: writes made
 * through a real kernel overlay mounted from tsov's Mounts reach the cache's
 * inotify watches on the upper (new files, appends, a new directory, a
 * copy-up from the lower, a deletion's whiteout), and each Usage after them
 * equals GNU du on the upper.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startSnapshotter } from '../support/snapshotter-process';
import { du } from '../support/du';
import { makeTempDir } from '../support/temp-dir';


test('cached Usage follows every change made through the container\'s overlay mount', async (t) => {
  const dir = makeTempDir(t, 'usage-cache');
  const { client } = await startSnapshotter(t, path.join(dir, 'root'), path.join(dir, 'tsov.sock'));
  const base = await client.prepare('base-active');
  fs.mkdirSync(path.join(base[0]!.source, 'etc'));
  fs.writeFileSync(path.join(base[0]!.source, 'etc', 'lower-file'), 'from the lower\n');
  await client.commit('base', 'base-active');
  const [overlay] = await client.prepare('container', 'base');
  const upper = overlay!.options.find((option) => option.startsWith('upperdir='))!.slice('upperdir='.length);
  const merged = path.join(dir, 'merged');
  fs.mkdirSync(merged);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', overlay!.options.join(','), merged]);
  t.teardown(() => execFileSync('umount', ['-l', merged]));
  fs.mkdirSync(path.join(merged, 'data'));
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(merged, 'data', `f${i}`), 'x');

  const steps: Array<[string, () => void]> = [
    ['nothing (the first calls arm the watches)', () => undefined],
    ['nothing again (served from the cache)', () => undefined],
    ['an append to an existing file', () => fs.appendFileSync(path.join(merged, 'data', 'f1'), Buffer.alloc(256 * 1024, 1))],
    ['a new file', () => fs.writeFileSync(path.join(merged, 'data', 'new'), Buffer.alloc(64 * 1024, 2))],
    ['a new directory with a file', () => {
      fs.mkdirSync(path.join(merged, 'fresh'));
      fs.writeFileSync(path.join(merged, 'fresh', 'inside'), Buffer.alloc(128 * 1024, 3));
    }],
    ['a write into that new directory after it was measured', () => fs.appendFileSync(path.join(merged, 'fresh', 'inside'), Buffer.alloc(512 * 1024, 4))],
    ['a copy-up of a lower file', () => fs.appendFileSync(path.join(merged, 'etc', 'lower-file'), Buffer.alloc(32 * 1024, 5))],
    ['a deletion of a lower file (a whiteout in the upper)', () => fs.rmSync(path.join(merged, 'etc', 'lower-file'))],
    ['a truncation', () => fs.truncateSync(path.join(merged, 'data', 'f1'), 0)],
  ];
  for (const [change, make] of steps) {
    make();
    t.deepEqual(await client.usage('container'), du(upper), `after ${change}`);
    t.deepEqual(await client.usage('container'), du(upper), `after ${change}, asked again`);
  }
});
