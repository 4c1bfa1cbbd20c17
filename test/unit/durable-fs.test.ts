import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SYNC_CALLS, THREAD_POOL_CALLS, makeSnapshotDirectories, makeSnapshotDirectory, type DirectoryCalls } from '../../snapshotter/durable-fs';
import { makeTempDir } from '../support/temp-dir';

const mode = (file: string) => fs.statSync(file).mode & 0o7777;

for (const [name, calls] of [
  ['synchronous calls (the worker thread)', SYNC_CALLS],
  ['thread-pool calls (the event loop)', THREAD_POOL_CALLS],
] as const) {
  test(`makeSnapshotDirectory with ${name}: exact modes, the parent's owner on fs/, work/ only for an active snapshot`, async (t) => {
    const dir = makeTempDir(t, 'durable');
    await makeSnapshotDirectory(calls, { dir: path.join(dir, 'active'), kind: 'active', owner: { uid: 1234, gid: 5678 } });
    await makeSnapshotDirectory(calls, { dir: path.join(dir, 'view'), kind: 'view' });
    t.is(mode(path.join(dir, 'active')), 0o700);
    t.is(mode(path.join(dir, 'active', 'fs')), 0o755);
    t.is(mode(path.join(dir, 'active', 'work')), 0o711);
    t.deepEqual([fs.statSync(path.join(dir, 'active', 'fs')).uid, fs.statSync(path.join(dir, 'active', 'fs')).gid], [1234, 5678]);
    t.deepEqual(fs.readdirSync(path.join(dir, 'view')), ['fs']);
    await t.throwsAsync(makeSnapshotDirectory(calls, { dir: path.join(dir, 'view'), kind: 'view' }), { code: 'EEXIST' }, 'never reuses a directory');
  });
}

function recordingCalls() {
  const seen: string[] = [];
  const calls: DirectoryCalls = {
    mkdir: (dir) => void seen.push(`mkdir ${path.relative('/x', dir)}`),
    chmod: (dir) => void seen.push(`chmod ${path.relative('/x', dir)}`),
    lchown: (file) => void seen.push(`lchown ${path.relative('/x', file)}`),
    fsyncDirectory: (dir) => void seen.push(`fsync ${path.relative('/x', dir)}`),
  };
  return { calls, made: () => seen.filter((call) => !call.startsWith('chmod')) };
}

test('the sequence: the directory, fs/ and its owner, work/, then fsyncs of fs/ (its new owner) and of the directory last', async (t) => {
  const { calls, made } = recordingCalls();
  await makeSnapshotDirectory(calls, { dir: '/x/7', kind: 'active', owner: { uid: 1, gid: 1 } });
  t.deepEqual(made(), ['mkdir 7', 'mkdir 7/fs', 'lchown 7/fs', 'mkdir 7/work', 'fsync 7/fs', 'fsync 7']);
  const view = recordingCalls();
  await makeSnapshotDirectory(view.calls, { dir: '/x/8', kind: 'view', owner: { uid: 1, gid: 1 } });
  t.deepEqual(view.made(), ['mkdir 8', 'mkdir 8/fs', 'lchown 8/fs', 'fsync 8/fs', 'fsync 8']);
  const own = recordingCalls();
  await makeSnapshotDirectory(own.calls, { dir: '/x/9', kind: 'view' });
  t.deepEqual(own.made(), ['mkdir 9', 'mkdir 9/fs', 'fsync 9'], 'no owner to set: no fsync of fs/');
});

test('a batch: every directory\'s entries first, then each directory fsynced once, in order', async (t) => {
  const { calls, made } = recordingCalls();
  await makeSnapshotDirectories(calls, [
    { dir: '/x/1', kind: 'active' },
    { dir: '/x/2', kind: 'view' },
  ]);
  t.deepEqual(made(), ['mkdir 1', 'mkdir 1/fs', 'mkdir 1/work', 'mkdir 2', 'mkdir 2/fs', 'fsync 1', 'fsync 2']);
});

test('a batch with the directory that holds them (spares in snapshots/): that one is fsynced last, once', async (t) => {
  const { calls, made } = recordingCalls();
  await makeSnapshotDirectories(calls, [{ dir: '/x/s/1', kind: 'active' }, { dir: '/x/s/2', kind: 'active' }], '/x/s');
  t.deepEqual(made(), ['mkdir s/1', 'mkdir s/1/fs', 'mkdir s/1/work', 'mkdir s/2', 'mkdir s/2/fs', 'mkdir s/2/work', 'fsync s/1', 'fsync s/2', 'fsync s']);
});

test('a batch reusing removed snapshots\' directories: no mkdir of a reused directory or its work/, a fresh fs/, the same fsyncs; one it cannot reuse is made', async (t) => {
  const { calls, made } = recordingCalls();
  const reused: string[] = [];
  calls.reuse = (from, to) => {
    reused.push(`${path.relative('/x', from)} -> ${path.relative('/x', to)}`);
    return from.endsWith('/3') ? undefined : { hasWork: !from.endsWith('/2') };
  };
  const count = await makeSnapshotDirectories(
    calls,
    [
      { dir: '/x/s/10', kind: 'active', reuse: '/x/s/1' },
      { dir: '/x/s/11', kind: 'active', reuse: '/x/s/2' },
      { dir: '/x/s/12', kind: 'active', reuse: '/x/s/3' },
      { dir: '/x/s/13', kind: 'view', reuse: '/x/s/4' },
    ],
    '/x/s',
  );
  t.is(count, 2);
  t.deepEqual(reused, ['s/1 -> s/10', 's/2 -> s/11', 's/3 -> s/12'], 'never for a view');
  t.deepEqual(made(), [
    'mkdir s/10/fs',
    'mkdir s/11/fs',
    'mkdir s/11/work',
    'mkdir s/12',
    'mkdir s/12/fs',
    'mkdir s/12/work',
    'mkdir s/13',
    'mkdir s/13/fs',
    'fsync s/10',
    'fsync s/11',
    'fsync s/12',
    'fsync s/13',
    'fsync s',
  ]);
});
