/**
 * The snapshotter root fills up or turns read-only under a running
 * tsov-snapshotter: Prepare fails with RESOURCE_EXHAUSTED / UNAVAILABLE and a
 * message that says what to do, nothing half-created remains, the daemon keeps
 * serving reads, and once space is back the same keys work again.
 */
import { status } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { unexpectedDirectories } from '../support/snapshot-directories';
import { SPARE_DIRECTORIES } from '../../snapshotter/snapshot-service';

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
}

/** Writes until the filesystem is full; returns the filler's path. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

/** A tsov-snapshotter whose root is a tmpfs of its own, mounted with `options`. */
async function snapshotterOnTmpfs(t: ExecutionContext, name: string, options: string) {
  const dir = makeTempDir(t, name);
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  run('mount', ['-t', 'tmpfs', '-o', options, `tsov-test-${name}`, root]);
  return { root, snapshotter: await startSnapshotter(t, root, path.join(dir, 'tsov.sock')) };
}

test('a full root: Prepare is RESOURCE_EXHAUSTED, nothing half-made remains, the daemon keeps serving and recovers', async (t) => {
  const { root, snapshotter } = await snapshotterOnTmpfs(t, 'disk-full', 'size=2m,nr_inodes=400');
  const c = snapshotter.client;
  await c.prepare('base-active');
  await c.commit('base', 'base-active');
  const filler = fill(root);

  const refusals: string[] = [];
  for (let i = 0; i < 20; i++) {
    const error = await c.prepare(`full-${i}`, i % 2 === 0 ? '' : 'base', { n: String(i) }).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );
    if (error === undefined) continue; // a small write can still fit in the last free block
    t.is(error.code, status.RESOURCE_EXHAUSTED, error.details);
    refusals.push(error.details);
  }
  t.true(refusals.length > 0, 'the full filesystem refused at least one Prepare');
  t.log(`${refusals.length} of 20 refused: ${[...new Set(refusals.map((r) => r.replace(/"full-\d+"/, 'KEY')))].join(' | ')}`);
  t.regex(refusals[0]!, /no space left .*free space on the snapshotter root/);
  t.deepEqual(unexpectedDirectories(root), [], 'no temp or unnamed snapshot directory is left');
  t.is((await c.stat('base')).kind, 'COMMITTED', 'reads keep working on a full disk');
  t.is(snapshotter.process.exitCode, null, 'still running');

  fs.rmSync(filler);
  for (let i = 0; i < 20; i++) await c.prepare(`after-${i}`, 'base');
  t.is((await c.list()).length, 1 + (20 - refusals.length) + 20, 'base, the Prepares that fit before, and the 20 after');
  t.deepEqual(unexpectedDirectories(root), []);
});

test('a read-only root: Prepare and View are UNAVAILABLE and say to remount; after remounting read-write they work', async (t) => {
  const { root, snapshotter } = await snapshotterOnTmpfs(t, 'read-only', 'size=8m');
  const c = snapshotter.client;
  await c.prepare('base-active');
  await c.commit('base', 'base-active');
  await c.prepare('before');
  // The whole root cannot be remounted read-only while SQLite holds its files open for writing
  // (EBUSY); the kernel's own errors-remount-ro does that. A read-only bind over snapshots/
  // gives the same EROFS to every directory operation of Prepare and View.
  const snapshots = path.join(root, 'snapshots');
  run('mount', ['--bind', snapshots, snapshots]);
  run('mount', ['-o', 'remount,bind,ro', snapshots]);
  const refused = (error: unknown) => {
    t.is((error as { code?: number }).code, status.UNAVAILABLE, String(error));
    t.regex(String((error as Error).message), /read-only.*remount it read-write/);
  };
  refused(await c.view('view-while-read-only', 'base').catch((error: unknown) => error));
  // A Prepare that takes a spare made before touches nothing under snapshots/ (only the
  // metadata, which a read-only filesystem refuses too; this bind leaves it writable): the
  // first Prepare after the spares made before are gone is refused.
  let taken = 0;
  let refusal: unknown;
  for (; refusal === undefined && taken <= SPARE_DIRECTORIES; taken++) refusal = await c.prepare(`while-read-only-${taken}`).then(() => undefined, (error: unknown) => error);
  t.log(`${taken - 1} Prepares took spares made before the filesystem went read-only`);
  refused(refusal);
  refused(await c.prepare('while-read-only').catch((error: unknown) => error));
  t.is((await c.stat('before')).kind, 'ACTIVE');
  run('umount', [snapshots]);
  await c.prepare('while-read-only');
  await c.view('view-while-read-only', 'base');
  t.deepEqual(unexpectedDirectories(root), []);
});
