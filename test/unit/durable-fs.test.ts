import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SYNC_CALLS, THREAD_POOL_CALLS, makeSnapshotDirectory, type DirectoryCalls } from '../../snapshotter/durable-fs';
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

test('the sequence: the directory, fs/ and its owner, work/, then one fsync of the directory last', async (t) => {
  const seen: string[] = [];
  const recording: DirectoryCalls = {
    mkdir: (dir) => void seen.push(`mkdir ${path.basename(dir)}`),
    chmod: (dir) => void seen.push(`chmod ${path.basename(dir)}`),
    lchown: (file) => void seen.push(`lchown ${path.basename(file)}`),
    fsyncDirectory: (dir) => void seen.push(`fsync ${path.basename(dir)}`),
  };
  await makeSnapshotDirectory(recording, { dir: '/x/7', kind: 'active', owner: { uid: 1, gid: 1 } });
  t.deepEqual(
    seen.filter((call) => !call.startsWith('chmod')),
    ['mkdir 7', 'mkdir fs', 'lchown fs', 'mkdir work', 'fsync 7'],
  );
});
