import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mayBeMounted, mountedAt, reuseDecision, reuseRemovedDirectorySync, type DirectoryShape } from '../../snapshotter/reused-directories';
import { overlayDirectoriesInUse, parseMountInfo } from '../../common/mountinfo';
import { makeSnapshotDirectory, SYNC_CALLS } from '../../snapshotter/durable-fs';
import { makeTempDir } from '../support/temp-dir';

const me = { uid: 0, gid: 0 };
const dir = (shape: Partial<DirectoryShape>): DirectoryShape => ({ isDirectory: true, mode: 0o700, uid: 0, gid: 0, entries: [], ...shape });
const wrapper = (shape: Partial<DirectoryShape> = {}) => dir({ entries: ['fs', 'work'], ...shape });
const work = (shape: Partial<DirectoryShape> = {}) => dir({ mode: 0o711, ...shape });

test('reuseDecision: only the exact shape the snapshotter makes, with work/ empty or holding the overlay\'s own work/', (t) => {
  const table: Array<[string, DirectoryShape, DirectoryShape | undefined, string | { hasFs: boolean; hasWork: boolean }]> = [
    ['as made, never mounted', wrapper(), work(), { hasFs: true, hasWork: true }],
    ['mounted once: the overlay made work/work', wrapper(), work({ entries: ['work'] }), { hasFs: true, hasWork: true }],
    ['a view (no work/)', wrapper({ entries: ['fs'] }), undefined, { hasFs: true, hasWork: false }],
    ['fs/ gone already', wrapper({ entries: ['work'] }), work(), { hasFs: false, hasWork: true }],
    ['index=on left work/index', wrapper(), work({ entries: ['work', 'index'] }), 'work/ holds "index"'],
    ['a volatile mount left work/incompat', wrapper(), work({ entries: ['incompat'] }), 'work/ holds "incompat"'],
    ['something else in the directory', wrapper({ entries: ['fs', 'work', 'notes'] }), work(), 'the snapshot directory holds "notes"'],
    ['the directory opened to others', wrapper({ mode: 0o755 }), work(), 'the snapshot directory has mode 0755, not 0700'],
    ['setgid on the directory', wrapper({ mode: 0o2700 }), work(), 'the snapshot directory has mode 02700, not 0700'],
    ['work/ opened to others', wrapper(), work({ mode: 0o777 }), 'work/ has mode 0777, not 0711'],
    ['the directory given away', wrapper({ uid: 1000 }), work(), 'the snapshot directory is owned by 1000:0, not 0:0'],
    ['work/ given away', wrapper(), work({ gid: 1000 }), 'work/ is owned by 0:1000, not 0:0'],
    ['a symlink where the directory was', dir({ isDirectory: false, mode: 0o777 }), undefined, 'the snapshot directory is not a directory'],
    ['a file named work', wrapper(), dir({ isDirectory: false, mode: 0o711 }), 'work/ is not a directory'],
    ['work/ listed but unreadable', wrapper(), undefined, 'work/ could not be read'],
  ];
  for (const [name, wrapperShape, workShape, expected] of table) {
    const decision = reuseDecision(wrapperShape, workShape, me);
    if (typeof expected === 'string') t.deepEqual(decision, { reuse: false, reason: expected }, name);
    else t.deepEqual(decision, { reuse: true, ...expected }, name);
  }
});

/** A removed snapshot's directory as the snapshotter made it, with a file, an xattr and a loose mode on its fs/. */
async function removedSnapshot(root: string, name: string): Promise<string> {
  const from = path.join(root, name);
  await makeSnapshotDirectory(SYNC_CALLS, { dir: from, kind: 'active' });
  fs.writeFileSync(path.join(from, 'fs', 'left-by-the-container'), 'x');
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(from, 'fs')]);
  fs.chmodSync(path.join(from, 'fs'), 0o777);
  return from;
}

test('mountedAt: a removed directory whose fs/ or work/ a live overlay names, from the mount table as the kernel shows it', (t) => {
  // Lines as Linux 6.18 shows an overlay mounted with containerd's option order (workdir, upperdir,
  // lowerdir), one with a comma in a path (escaped by the kernel), and a bind mount of an fs/.
  const mountinfo = [
    '73 26 0:39 / /run/c/rootfs rw,relatime - overlay overlay rw,lowerdir=/v/snapshots/1/fs,upperdir=/v/snapshots/12/fs,workdir=/v/snapshots/12/work,uuid=on',
    '74 26 0:40 / /run/d/rootfs rw,relatime - overlay overlay rw,lowerdir=/v/snapshots/1/fs,upperdir=/w\\,x/snapshots/3/fs,workdir=/w\\,x/snapshots/3/work',
    '75 26 8:1 /v/snapshots/20/fs /mnt/bound rw,relatime - ext4 /dev/vda rw',
    '76 26 0:41 / /run/e/rootfs rw,relatime - overlay overlay rw,lowerdir=/v/snapshots/30/fs:/v/snapshots/1/fs',
  ].join('\n');
  const inUse = overlayDirectoriesInUse(parseMountInfo(mountinfo));
  const table: Array<[string, string | undefined]> = [
    ['/v/snapshots/12', '/run/c/rootfs'],
    ['/w,x/snapshots/3', '/run/d/rootfs'],
    ['/v/snapshots/1', undefined], // a lower: only an upper's or a work directory is shared by a new snapshot's overlay
    ['/v/snapshots/20', undefined], // a bind mount is not an overlay's work/
    ['/v/snapshots/30', undefined], // a read-only overlay (no upper): its lowers are committed layers, never removed while used
    ['/v/snapshots/120', undefined],
    ['/v/snapshots', undefined],
  ];
  for (const [dir, expected] of table) t.is(mountedAt(dir, inUse), expected, dir);
  t.is(mountedAt('/v/snapshots/7', new Map([['/v/snapshots/7/fs', '/only/upper']])), '/only/upper', 'an upperdir alone');
  // The cheap look before the parse: every directory mountedAt finds, mayBeMounted lets through.
  for (const [dir, expected] of table) if (expected !== undefined) t.true(mayBeMounted(dir, mountinfo), dir);
});

test('mayBeMounted: the snapshot id followed by /work or /fs anywhere in the text; false only where no overlay can use it', (t) => {
  const table: Array<[string, string, boolean]> = [
    ['/v/snapshots/12', 'upperdir=/v/snapshots/12/fs,workdir=/v/snapshots/12/work', true],
    ['/v/snapshots/12', 'workdir=/other\\ root/snapshots/12/work', true], // another root's 12: parsed, then mountedAt says no
    ['/v/snapshots/12', 'upperdir=/v/snapshots/112/fs,workdir=/v/snapshots/112/work', false],
    ['/v/snapshots/12', 'upperdir=/v/snapshots/120/fs', false],
    ['/v/snapshots/12', 'lowerdir=/v/snapshots/1/fs:/v/snapshots/2/fs', false],
    ['/v/snapshots/12', '', false],
  ];
  for (const [dir, text, expected] of table) t.is(mayBeMounted(dir, text), expected, text);
});

test('reuseRemovedDirectorySync renames the directory and work/ to the spare and puts the old fs/ back under the removed name, whole', async (t) => {
  const root = makeTempDir(t, 'reuse');
  const from = await removedSnapshot(root, '7');
  fs.mkdirSync(path.join(from, 'work', 'work'), { mode: 0 });
  const inodes = { dir: fs.statSync(from).ino, work: fs.statSync(path.join(from, 'work')).ino, fs: fs.statSync(path.join(from, 'fs')).ino };
  const to = path.join(root, '12');
  t.deepEqual(reuseRemovedDirectorySync(from, to), { hasWork: true });
  t.is(fs.statSync(to).ino, inodes.dir);
  t.is(fs.statSync(path.join(to, 'work')).ino, inodes.work);
  t.deepEqual(fs.readdirSync(to), ['work'], 'no fs/: the caller makes a fresh one');
  t.is(fs.statSync(from).ino, inodes.fs, 'the old fs/, waiting for deletion under the removed snapshot\'s name');
  t.deepEqual(fs.readdirSync(from), ['left-by-the-container']);
});

test('reuseRemovedDirectorySync changes nothing for a directory it must not reuse, or one already gone', async (t) => {
  const root = makeTempDir(t, 'reuse');
  const indexed = await removedSnapshot(root, '1');
  fs.mkdirSync(path.join(indexed, 'work', 'index'));
  const opened = await removedSnapshot(root, '2');
  fs.chmodSync(opened, 0o755);
  fs.symlinkSync(indexed, path.join(root, '3'));
  for (const name of ['1', '2', '3', '4']) {
    t.is(reuseRemovedDirectorySync(path.join(root, name), path.join(root, `${name}-spare`)), undefined, name);
    t.false(fs.existsSync(path.join(root, `${name}-spare`)), name);
  }
  t.deepEqual(fs.readdirSync(indexed).sort(), ['fs', 'work']);
  t.true(fs.lstatSync(path.join(root, '3')).isSymbolicLink(), 'a symlink is judged as itself, never followed');
});

test('a spare made from a removed snapshot (the worker thread\'s sequence): fresh fs/ with its mode and no xattr, the old work/', async (t) => {
  const root = makeTempDir(t, 'reuse');
  const from = await removedSnapshot(root, '7');
  const oldWork = fs.statSync(path.join(from, 'work')).ino;
  const oldFs = fs.statSync(path.join(from, 'fs')).ino;
  const to = path.join(root, '12');
  await makeSnapshotDirectory({ ...SYNC_CALLS, reuse: reuseRemovedDirectorySync }, { dir: to, kind: 'active', reuse: from });
  t.is(fs.statSync(path.join(to, 'work')).ino, oldWork);
  t.not(fs.statSync(path.join(to, 'fs')).ino, oldFs);
  t.is(fs.statSync(path.join(to, 'fs')).mode & 0o7777, 0o755);
  t.deepEqual(fs.readdirSync(path.join(to, 'fs')), []);
  t.is(execFileSync('getfattr', ['-d', '-m', '-', path.join(to, 'fs')], { encoding: 'utf8' }), '', 'no xattr of the old fs/');
  t.regex(execFileSync('getfattr', ['-d', '-m', '-', from], { encoding: 'utf8' }), /trusted\.overlay\.opaque="y"/, 'the old fs/ kept its own, to be deleted with it');
});
