/**
 * tsov-snapshotter's RPCs over its real socket: error codes and messages,
 * timestamps, Update masks, List filters and batching, Usage and Cleanup.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { waitFor } from '../../harness/wait';
import Database from 'better-sqlite3';
import { MAX_SPARE_DIRECTORIES, SPARE_DIRECTORIES } from '../../snapshotter/snapshot-service';
import { du } from '../support/du';
import { readMetadataCopy } from '../support/metadata-copy';
import { snapshotDirectories } from '../support/snapshot-directories';
import { scrape, sample } from '../support/metrics-scrape';

async function started(t: Parameters<typeof makeTempDir>[0]) {
  const dir = makeTempDir(t, 'rpc');
  return startSnapshotter(t, path.join(dir, 'root'), path.join(dir, 'sock', 'tsov.sock'));
}

async function code(t: { throwsAsync: (p: Promise<unknown>) => Promise<unknown> }, promise: Promise<unknown>): Promise<ServiceError> {
  return (await t.throwsAsync(promise)) as ServiceError;
}

test('refusals carry containerd status codes and say what to do', async (t) => {
  const { client } = await started(t);
  await client.prepare('base-tmp');
  await client.commit('base', 'base-tmp');
  await client.prepare('active', 'base');

  const cases: Array<[string, Promise<unknown>, number, RegExp]> = [
    ['Stat of a missing key', client.stat('nope'), status.NOT_FOUND, /"nope" does not exist/],
    ['Prepare of an existing key', client.prepare('active', 'base'), status.ALREADY_EXISTS, /already exists/],
    ['Prepare on a missing parent', client.prepare('x', 'nope'), status.NOT_FOUND, /parent snapshot "nope" does not exist/],
    ['Prepare on an active parent', client.prepare('x', 'active'), status.INVALID_ARGUMENT, /not committed/],
    ['Prepare with an empty key', client.prepare(''), status.INVALID_ARGUMENT, /key must not be empty/],
    ['Commit of a committed snapshot', client.commit('again', 'base'), status.FAILED_PRECONDITION, /not active/],
    ['Commit to an existing name', client.commit('base', 'active'), status.ALREADY_EXISTS, /already exists/],
    ['Commit of a missing key', client.commit('n', 'nope'), status.NOT_FOUND, /does not exist/],
    ['Remove of a parent', client.remove('base'), status.FAILED_PRECONDITION, /cannot remove snapshot with child/],
    ['Remove of a missing key', client.remove('nope'), status.NOT_FOUND, /does not exist/],
    ['Mounts of a committed snapshot', client.mounts('base'), status.FAILED_PRECONDITION, /committed and has no mounts/],
    ['Update of an immutable field', client.update({ name: 'base', parent: 'x' }, ['parent']), status.INVALID_ARGUMENT, /cannot update "parent"/],
    ['Update of a missing snapshot', client.update({ name: 'nope', labels: {} }, ['labels']), status.NOT_FOUND, /does not exist/],
    ['Prepare with a label over 4096 bytes', client.prepare('big', '', { k: 'v'.repeat(4096) }), status.INVALID_ARGUMENT, /greater than maximum size/],
    ['List with a bad filter', client.list(['name==']), status.INVALID_ARGUMENT, /invalid filter/],
    ['Commit rebasing a snapshot that has a parent', client.commit('rebased', 'active', {}, 'other'), status.INVALID_ARGUMENT, /already has parent "base"/],
  ];
  for (const [title, promise, expected, message] of cases) {
    const error = await code(t, promise);
    t.is(error.code, expected, `${title}: ${error.details}`);
    t.regex(error.details, message, title);
  }
  // Nothing above changed the store.
  t.deepEqual((await client.list()).map((info) => info.name).sort(), ['active', 'base']);
});

test('timestamps have microsecond precision; created == updated at creation; Update moves only updated', async (t) => {
  const { client } = await started(t);
  const before = Date.now();
  await client.prepare('a', '', { keep: 'k' });
  const info = await client.stat('a');
  t.deepEqual(info.created_at, info.updated_at);
  const createdMs = info.created_at!.seconds * 1000 + info.created_at!.nanos / 1e6;
  t.true(createdMs >= before && createdMs <= Date.now() + 1);
  t.is(info.created_at!.nanos % 1000, 0, 'whole microseconds');
  t.not(info.created_at!.nanos % 1_000_000, 0, 'finer than milliseconds (fails about once in a thousand runs by chance)');
  t.is(info.kind, 'ACTIVE');

  const updated = await client.update({ name: 'a', labels: { added: 'x' } }, ['labels.added']);
  t.deepEqual(updated.created_at, info.created_at);
  t.notDeepEqual(updated.updated_at, info.updated_at);
  t.deepEqual(updated.labels, { keep: 'k', added: 'x' });
  t.deepEqual((await client.update({ name: 'a', labels: { only: 'y' } })).labels, { only: 'y' });
  t.deepEqual((await client.update({ name: 'a', labels: {} }, ['labels.only'])).labels, {});
});

test('Commit with a parent rebases a parentless snapshot (containerd 2.2)', async (t) => {
  const { client } = await started(t);
  await client.prepare('p-tmp');
  await client.commit('p', 'p-tmp');
  await client.prepare('orphan');
  await client.commit('child', 'orphan', {}, 'p');
  t.is((await client.stat('child')).parent, 'p');
  const error = await code(t, client.remove('p'));
  t.is(error.code, status.FAILED_PRECONDITION);
});

test('List streams every snapshot in batches and applies containerd filters', async (t) => {
  const { client } = await started(t);
  const count = 250;
  for (let i = 0; i < count; i++) {
    await client.prepare(`tmp-${i}`);
    await client.commit(`layer-${i}`, `tmp-${i}`, { 'containerd.io/gc.root': i % 2 === 0 ? 'even' : 'odd', n: String(i) });
  }
  await client.view('view', 'layer-0');
  const all = await client.list();
  t.is(all.length, count + 1);
  t.is((await client.list(['labels."containerd.io/gc.root"==even'])).length, count / 2);
  t.deepEqual((await client.list(['kind==view'])).map((i) => i.name), ['view']);
  t.deepEqual((await client.list(['name==layer-7', 'labels.n==9'])).map((i) => i.name).sort(), ['layer-7', 'layer-9']);
  t.deepEqual((await client.list(['parent!=""'])).map((i) => i.name), ['view']);
  t.is((await client.list(['name~=/^layer-1[0-9]$/'])).length, 10);
  // List answers from a cache of encoded records: every change must reach it.
  await client.update({ name: 'layer-3', labels: { n: 'relabelled' } }, ['labels.n']);
  await client.remove('view');
  await client.prepare('late', 'layer-0');
  const after = await client.list();
  t.is(after.length, count + 1);
  t.deepEqual(after.find((i) => i.name === 'layer-3')?.labels, { 'containerd.io/gc.root': 'odd', n: 'relabelled' });
  t.false(after.some((i) => i.name === 'view'));
  t.is(after.at(-1)?.name, 'late', 'List is in creation order');
  t.deepEqual((await client.list(['labels.n==relabelled'])).map((i) => i.name), ['layer-3']);
});

test('Usage measures an active snapshot now and reports a committed one as recorded', async (t) => {
  const { client } = await started(t);
  const [mount] = await client.prepare('a');
  const fsDir = mount!.source;
  const empty = await client.usage('a');
  t.is(empty.inodes, 1);
  fs.writeFileSync(path.join(fsDir, 'data'), Buffer.alloc(64 * 1024, 1));
  fs.mkdirSync(path.join(fsDir, 'dir'));
  fs.linkSync(path.join(fsDir, 'data'), path.join(fsDir, 'dir', 'hardlink'));
  const active = await client.usage('a');
  t.is(active.inodes, 3, 'root, file (hard link counted once), dir');
  t.true(active.size >= 64 * 1024 + empty.size);
  await client.commit('c', 'a');
  fs.writeFileSync(path.join(fsDir, 'late'), 'ignored after commit');
  t.deepEqual(await client.usage('c'), active);
});

test('Commit measures the upper beside its transaction, but one it cannot measure still fails and leaves the snapshot active', async (t) => {
  const { client, root } = await started(t);
  const [mount] = await client.prepare('a', '', { keep: 'me' });
  const fsDir = mount!.source;
  const before = await client.stat('a');
  const aside = path.join(root, 'fs-aside');
  fs.renameSync(fsDir, aside);
  const error = await code(t, client.commit('c', 'a'));
  t.regex(error.details, /measuring the disk usage of snapshot/);
  t.deepEqual(await client.stat('a'), before, 'still active, every field as before');
  t.is((await code(t, client.stat('c'))).code, status.NOT_FOUND);
  fs.renameSync(aside, fsDir);
  fs.writeFileSync(path.join(fsDir, 'data'), Buffer.alloc(20_000, 1));
  await client.commit('c', 'a');
  t.deepEqual(await client.usage('c'), du(fsDir), 'measured at Commit, the second time');
});

test('a child\'s fs/ starts owned like its committed parent\'s (learnt by Commit\'s walk, or stat\'ed after a restart), as containerd\'s overlayfs snapshotter does', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const owner = (file: string) => {
    const stat = fs.lstatSync(file);
    return `${stat.uid}:${stat.gid}`;
  };
  const first = await startSnapshotter(t, root, socket);
  const [layer] = await first.client.prepare('layer-tmp');
  // What an unpack does to a layer whose root entry belongs to someone else.
  fs.lchownSync(layer!.source, 1234, 5678);
  await first.client.commit('layer', 'layer-tmp');
  const child = await first.client.prepare('child', 'layer');
  const upper = (mounts: typeof child) => mounts[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
  t.is(owner(upper(child)), '1234:5678');
  await first.client.prepare('own-tmp');
  await first.client.commit('own', 'own-tmp');
  t.is(owner(upper(await first.client.prepare('own-child', 'own'))), `${process.getuid!()}:${process.getgid!()}`, 'a parent of this process\'s own ids: nothing to copy');
  await first.stop();
  const second = await startSnapshotter(t, root, socket);
  t.is(owner(upper(await second.client.prepare('after-restart', 'layer'))), '1234:5678');
});

test('a committed snapshot whose usage a crash did not keep is measured when Usage asks, and recorded', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const first = await startSnapshotter(t, root, socket);
  const [mount] = await first.client.prepare('a');
  fs.writeFileSync(path.join(mount!.source, 'data'), Buffer.alloc(70_000, 1));
  await first.client.commit('c', 'a');
  await first.stop();
  // What a crash after Commit's reply and before the next fsync can leave: Commit
  // writes the measured usage without waiting for an fsync of its own.
  const db = new Database(path.join(root, 'metadata.db'));
  db.prepare("UPDATE snapshots SET size = -1, inodes = -1 WHERE name = 'c'").run();
  db.close();
  const second = await startSnapshotter(t, root, socket);
  const expected = du(mount!.source);
  t.deepEqual(await second.client.usage('c'), expected);
  await second.stop();
  t.deepEqual(
    readMetadataCopy(path.join(root, 'metadata.db'), (copy) => copy.prepare("SELECT size, inodes FROM snapshots WHERE name = 'c'").get()),
    expected,
    'and recorded',
  );
});

test('Cleanup removes directories that no metadata names, and only those (the spares it keeps for Prepare stay)', async (t) => {
  const { client, root } = await started(t);
  await client.prepare('kept');
  const snapshots = path.join(root, 'snapshots');
  const spares = snapshotDirectories(root).spares;
  fs.mkdirSync(path.join(snapshots, '999', 'fs'), { recursive: true });
  fs.mkdirSync(path.join(snapshots, 'new-crashed'));
  t.deepEqual(snapshotDirectories(root).stray, ['999', 'new-crashed']);
  await client.cleanup();
  t.deepEqual(snapshotDirectories(root), { named: ['1'], spares, stray: [] });
  t.is((await client.stat('kept')).name, 'kept');
});

test('Cleanup removes every orphan it can and names the one it cannot (a mount under it)', async (t) => {
  const { client, root } = await started(t);
  const snapshots = path.join(root, 'snapshots');
  for (const name of ['997', '998', '999']) fs.mkdirSync(path.join(snapshots, name, 'fs'), { recursive: true });
  const mounted = path.join(snapshots, '998', 'fs');
  execFileSync('mount', ['-t', 'tmpfs', 'tsov-test', mounted]);
  let isMounted = true;
  t.teardown(() => {
    if (isMounted) execFileSync('umount', ['-l', mounted]);
  });
  const error = await code(t, client.cleanup());
  t.is(error.code, status.INTERNAL);
  t.regex(error.details, /removed 2 orphaned snapshot directories but could not remove 1: .*998\/fs.*unmount it, then call Cleanup again/);
  t.deepEqual(snapshotDirectories(root).stray, ['998']);
  execFileSync('umount', [mounted]);
  isMounted = false;
  await client.cleanup();
  t.deepEqual(snapshotDirectories(root).stray, []);
});

// Serial: the timing tests below write tens of thousands of files synchronously, which
// would stall this process's event loop, and so the timings of any test running beside them.
test.serial('Remove drops the record before replying and the directory behind it; Cleanup leaves a removal under way to finish on its own', async (t) => {
  const { client, root } = await started(t);
  const mounts = await client.prepare('gone');
  const dir = path.join(root, 'snapshots', '1');
  const fsDir = mounts[0]!.source;
  for (let i = 0; i < 40_000; i++) fs.writeFileSync(path.join(fsDir, `f${i}`), '');
  await client.remove('gone');
  const removedAt = performance.now();
  await client.cleanup();
  const cleanupMs = performance.now() - removedAt;
  await waitFor('the removed snapshot\'s directory to go', () => !fs.existsSync(dir), 60_000, 5);
  const removalMs = performance.now() - removedAt;
  t.log(`Cleanup ${cleanupMs.toFixed(1)} ms, removal ${removalMs.toFixed(1)} ms`);
  t.true(cleanupMs < removalMs / 2, `Cleanup answered in ${cleanupMs.toFixed(1)} ms, the 40,000-file directory took ${removalMs.toFixed(1)} ms to go: it did not wait for it`);
  t.is((await code(t, client.stat('gone'))).code, status.NOT_FOUND);
  t.deepEqual((await client.list()).map((i) => i.name), []);
  await client.cleanup();
  const left = snapshotDirectories(root);
  t.deepEqual([left.named, left.stray], [[], []]);
});

test('Prepare takes a spare made ahead in snapshots/ under an id of its own; spares refill in batches, Cleanup leaves them alone, a clean stop deletes them, a crash\'s are deleted after the next start and their ids never come back', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const snapshots = path.join(root, 'snapshots');
  const waitForSpares = async (atLeast = SPARE_DIRECTORIES) => {
    for (let i = 0; i < 100 && snapshotDirectories(root).spares.length < atLeast; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    return snapshotDirectories(root).spares;
  };
  // Spares lived in <root>/spare/ before; a root from then is tidied at start.
  fs.mkdirSync(path.join(root, 'spare', '3', 'fs'), { recursive: true });
  const first = await startSnapshotter(t, root, socket);
  t.false(fs.existsSync(path.join(root, 'spare')), 'the old spare/ is removed at start');
  const ready = await waitForSpares();
  t.deepEqual(ready, Array.from({ length: SPARE_DIRECTORIES }, (_, i) => String(i + 1)), `${SPARE_DIRECTORIES} empty snapshot directories wait under the first ids`);
  const taken = fs.statSync(path.join(snapshots, '1')).ino;
  const mounts = await first.client.prepare('a');
  t.is(mounts[0]!.source, path.join(snapshots, '1', 'fs'));
  t.is(fs.statSync(path.join(snapshots, '1')).ino, taken, 'snapshot a is the oldest spare, in place');
  t.deepEqual(snapshotDirectories(root), { named: ['1'], spares: ready.slice(1), stray: [] }, 'one taken: no refill yet (spares are made in batches)');
  for (let i = 0; i < SPARE_DIRECTORIES / 2; i++) await first.client.prepare(`more-${i}`);
  const refilled = await waitForSpares(SPARE_DIRECTORIES - 1);
  t.true(refilled.length >= SPARE_DIRECTORIES - 1, `refilled in one batch once half are taken (${refilled.length} ready)`);
  t.true(Number(refilled[refilled.length - 1]) > SPARE_DIRECTORIES, `the new ones have new ids (${refilled.join(' ')})`);
  await first.client.cleanup();
  t.deepEqual(snapshotDirectories(root).spares, refilled, 'Cleanup does not touch the spares');
  await first.stop();
  const named = snapshotDirectories(root).named;
  t.deepEqual(snapshotDirectories(root), { named, spares: [], stray: [] }, 'a clean stop deletes the spares');
  t.is(named.length, 1 + SPARE_DIRECTORIES / 2);

  const second = await startSnapshotter(t, root, socket);
  const crashed = await waitForSpares();
  await second.stop('SIGKILL');
  const third = await startSnapshotter(t, root, socket, ['--log-level', 'info']);
  // No record names them: carried over at start, deleted in the background (or made into new spares by the refill), no Cleanup needed.
  await waitFor('the crash\'s spares to go', () => crashed.every((id) => !fs.existsSync(path.join(snapshots, id))), 10_000);
  t.regex(third.stderr(), /directories named by no snapshot .* are deleted in the background/);
  await waitForSpares();
  const after = snapshotDirectories(root);
  const highest = Math.max(...crashed.map(Number));
  t.true(after.spares.every((id) => Number(id) > highest), `the new spares\' ids (${after.spares.join(' ')}) are above every one found at start (${highest})`);
  t.is(after.spares.length, SPARE_DIRECTORIES);
  t.is((await third.client.stat('a')).kind, 'ACTIVE');
});

test('concurrent Prepares that empty the spare pool grow it (up to MAX_SPARE_DIRECTORIES), as its metrics and the spares on disk show; a clean stop deletes them all', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const metrics = path.join(dir, 'metrics.sock');
  const snapshotter = await startSnapshotter(t, root, path.join(dir, 'tsov.sock'), ['--log-level', 'debug', '--metrics-address', `unix:${metrics}`]);
  const spares = () => snapshotDirectories(root).spares.length;
  await waitFor(`${SPARE_DIRECTORIES} spares at start`, () => spares() === SPARE_DIRECTORIES, 10_000);
  const before = await scrape(metrics);
  t.deepEqual([sample(before, 'tsov_spare_snapshot_directories'), sample(before, 'tsov_spare_snapshot_directories_target')], [SPARE_DIRECTORIES, SPARE_DIRECTORIES]);
  // A burst: many more at once than the pool holds.
  const burst = 4 * SPARE_DIRECTORIES;
  await Promise.all(Array.from({ length: burst }, (_, i) => snapshotter.client.prepare(`burst-${i}`)));
  t.regex(snapshotter.stderr(), /"from":16,[^\n]*spare snapshot directories ran out under concurrent Prepares: the pool grows[^\n]*"to":32/);
  await waitFor('the grown pool to be refilled', () => spares() > SPARE_DIRECTORIES, 10_000);
  const grown = spares();
  t.true(grown > SPARE_DIRECTORIES && grown <= MAX_SPARE_DIRECTORIES, `${grown} spares after a burst of ${burst} Prepares (at first ${SPARE_DIRECTORIES}, at most ${MAX_SPARE_DIRECTORIES})`);
  const target = sample(await scrape(metrics), 'tsov_spare_snapshot_directories_target') ?? 0;
  t.true(target > SPARE_DIRECTORIES && target <= MAX_SPARE_DIRECTORIES, `tsov_spare_snapshot_directories_target is ${target}`);
  t.is(snapshotDirectories(root).named.length, burst);
  await snapshotter.stop();
  t.deepEqual(snapshotDirectories(root).spares, [], 'a clean stop deletes the spares, however many');
});

test('a stop does not wait for removed snapshots\' directories; the next start deletes them in the background, without Cleanup', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const first = await startSnapshotter(t, root, socket);
  const keys = Array.from({ length: 40 }, (_, i) => `removed-${i}`);
  for (const key of keys) {
    const [mount] = await first.client.prepare(key);
    // Not spare-shaped: a removed container's files.
    fs.writeFileSync(path.join(mount!.source, 'written'), key);
  }
  await first.client.prepare('kept');
  // Removed back to back and stopped at once: the snapshotter is never quiet for its 100 ms before the stop.
  for (const key of keys) await first.client.remove(key);
  await first.stop();
  const left = snapshotDirectories(root);
  t.is(left.named.length, 1, 'only kept has a record');
  // All of them unless this machine paused 100 ms between two Removes (the quiet deletion then took those before).
  t.true(left.stray.length >= 1, 'the stop left the removed snapshots\' directories for the next start');
  t.log(`${left.stray.length} of ${keys.length} removed snapshots' directories left at the stop`);

  const second = await startSnapshotter(t, root, socket, ['--log-level', 'info']);
  await waitFor('the removed snapshots\' directories to go', () => snapshotDirectories(root).stray.length === 0, 10_000);
  t.regex(second.stderr(), /directories named by no snapshot \(removed ones the last stop left, or a crash's spares\) are deleted in the background/);
  t.deepEqual(snapshotDirectories(root).named, left.named);
  t.is((await second.client.stat('kept')).kind, 'ACTIVE');
});

test('at start, a record whose directory did not survive is rolled back if its creation was never acknowledged; a committed one is reported', async (t) => {
  const dir = makeTempDir(t, 'rpc');
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'tsov.sock');
  const first = await startSnapshotter(t, root, socket);
  await first.client.prepare('layer-tmp');
  await first.client.commit('layer', 'layer-tmp');
  await first.client.prepare('active', 'layer');
  await first.client.view('view', 'layer');
  await first.stop();
  // What a power loss between the metadata commit and the directory's fsync leaves
  // (the reply waits for both, so these creations were never acknowledged):
  const ids = readMetadataCopy(path.join(root, 'metadata.db'), (db) => db.prepare("SELECT id FROM snapshots WHERE name IN ('active', 'view')").all() as Array<{ id: number }>);
  t.is(ids.length, 2);
  for (const { id } of ids) fs.rmSync(path.join(root, 'snapshots', String(id)), { recursive: true });
  const second = await startSnapshotter(t, root, socket, ['--log-level', 'info']);
  t.deepEqual((await second.client.list()).map((i) => i.name), ['layer']);
  t.regex(second.stderr(), /rolled back snapshots whose creation was interrupted.*"active","view"/);
  await second.stop();
  fs.rmSync(path.join(root, 'snapshots', '1'), { recursive: true });
  const third = await startSnapshotter(t, root, socket);
  t.is((await third.client.stat('layer')).kind, 'COMMITTED', 'a committed snapshot is never dropped silently');
  t.regex(third.stderr(), /committed snapshot has no directory; its data is lost/);
});

test.serial('Remove and Cleanup do not wait behind a Usage walk in flight (containerd\'s garbage collector calls them while CRI measures containers)', async (t) => {
  const { client } = await started(t);
  await client.prepare('base-active');
  await client.commit('base', 'base-active');
  const mounts = await client.prepare('busy', 'base');
  const upper = mounts[0]!.options.find((option) => option.startsWith('upperdir='))!.slice('upperdir='.length);
  for (let i = 0; i < 30_000; i++) {
    const dir = path.join(upper, `d${i % 100}`);
    if (i < 100) fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, `f${i}`), 'x');
  }
  await client.prepare('doomed', 'base');
  const order: string[] = [];
  const usage = client.usage('busy').then((u) => {
    order.push('usage');
    return u;
  });
  await new Promise((resolve) => setTimeout(resolve, 5)); // the walk has started
  await client.remove('doomed');
  await client.cleanup();
  order.push('cleanup');
  t.is((await usage).inodes, 30_000 + 100 + 1);
  t.deepEqual(order, ['cleanup', 'usage'], 'Cleanup answered while the 30,000-file walk was still running');
});
