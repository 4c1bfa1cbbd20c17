/**
 * The snapshotter's disk usage (the Usage of an active snapshot) against GNU
 * du on the same trees: du counts each inode once (hard links too) with its
 * st_blocks, as containerd's continuity fs.DiskUsage does.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { measureDiskUsageSync, measureSmallTreeSync, SMALL_DIRECTORY_BYTES } from '../../snapshotter/disk-usage';
import { du } from '../support/du';
import { makeTempDir } from '../support/temp-dir';


const TREES: ReadonlyArray<[string, (root: string) => void]> = [
  ['an empty directory', () => undefined],
  ['files in nested directories', (root) => {
    for (let d = 0; d < 5; d++) {
      fs.mkdirSync(path.join(root, `d${d}`, 'inner'), { recursive: true });
      for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(root, `d${d}`, f % 2 ? 'inner' : '', `f${f}`), 'x'.repeat(f * 1000));
    }
  }],
  ['hard links inside the tree (counted once), and a link whose other name is outside', (root) => {
    fs.writeFileSync(path.join(root, 'data'), Buffer.alloc(64 * 1024, 1));
    fs.mkdirSync(path.join(root, 'dir'));
    fs.linkSync(path.join(root, 'data'), path.join(root, 'dir', 'again'));
    fs.linkSync(path.join(root, 'data'), path.join(root, 'dir', 'thrice'));
    fs.writeFileSync(path.join(root, '..', 'outside'), 'o');
    fs.linkSync(path.join(root, '..', 'outside'), path.join(root, 'from-outside'));
  }],
  ['symlinks (not followed), a sparse file, a fifo, an OCI whiteout', (root) => {
    fs.symlinkSync('/etc', path.join(root, 'etc-link'));
    fs.symlinkSync('dangling', path.join(root, 'dangling-link'));
    const fd = fs.openSync(path.join(root, 'sparse'), 'w');
    fs.writeSync(fd, 'end', 50 * 1024 * 1024);
    fs.closeSync(fd);
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    execFileSync('mknod', [path.join(root, 'whiteout'), 'c', '0', '0']);
  }],
  ['names with spaces, newlines and non-UTF-8-looking characters', (root) => {
    for (const name of ['with space', 'new\nline', 'ünïcode', '-dash', '.hidden']) fs.writeFileSync(path.join(root, name), name);
  }],
];

for (const [title, build] of TREES) {
  test(`disk usage equals du's: ${title}`, (t) => {
    const root = path.join(makeTempDir(t, 'du'), 'tree');
    fs.mkdirSync(root);
    build(root);
    const { size, inodes, rootOwner } = measureDiskUsageSync(root);
    t.deepEqual({ size, inodes }, du(root));
    const stat = fs.lstatSync(root);
    t.deepEqual(rootOwner, { uid: stat.uid, gid: stat.gid });
    // Commit's walk on the event loop: the same answer for a tree within its limit, none past it.
    const entries = Number(execFileSync('find', [root, '-mindepth', '1', '-printf', 'x'], { encoding: 'utf8' }).length);
    t.deepEqual(measureSmallTreeSync(root, entries), { size, inodes, rootOwner }, `${entries} entries, limit ${entries}`);
    if (entries > 0) t.is(measureSmallTreeSync(root, entries - 1), undefined, `${entries} entries, limit ${entries - 1}`);
  });
}

/** Runs fn counting the module's real lstat and directory reads (it calls them through the fs object). */
function countingCalls<T>(fn: () => T): { result: T; counted: { lstat: number; directoryReads: number } } {
  const counted = { lstat: 0, directoryReads: 0 };
  const { lstatSync, readdirSync, opendirSync } = fs;
  Object.assign(fs, {
    lstatSync: (...args: Parameters<typeof fs.lstatSync>) => (counted.lstat++, lstatSync(...args)),
    readdirSync: (...args: Parameters<typeof fs.readdirSync>) => (counted.directoryReads++, readdirSync(...args)),
    opendirSync: (...args: Parameters<typeof fs.opendirSync>) => (counted.directoryReads++, opendirSync(...args)),
  });
  try {
    return { result: fn(), counted };
  } finally {
    Object.assign(fs, { lstatSync, readdirSync, opendirSync });
  }
}

test('the walk for the event loop gives up on a large directory without reading it', (t) => {
  const root = path.join(makeTempDir(t, 'du-small'), 'tree');
  fs.mkdirSync(root);
  for (let i = 0; i < 5000; i++) fs.writeFileSync(path.join(root, `f${i}`), '');
  // Reading it whole (5,000 entries, 5,000 lstats) is what the measuring thread does.
  const whole = measureDiskUsageSync(root);
  t.is(whole.inodes, 5001);
  t.true(fs.lstatSync(root).size > SMALL_DIRECTORY_BYTES, 'a directory of 5,000 entries is larger than a small one');
  const { result, counted } = countingCalls(() => measureSmallTreeSync(root, 32));
  t.is(result, undefined);
  t.deepEqual(counted, { lstat: 1, directoryReads: 0 }, 'the root\'s lstat, whose size says it is not small');
});

test('the walk for the event loop leaves a directory of few entries but a large size to the measuring thread', (t) => {
  // ext4 here: 20 names of 250 bytes take two blocks. A directory that once held many
  // entries keeps its size on ext4 too: its size, not its entries now, is what bounds the read.
  const root = path.join(makeTempDir(t, 'du-long-names'), 'tree');
  fs.mkdirSync(path.join(root, 'small'), { recursive: true });
  fs.mkdirSync(path.join(root, 'long-names'));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, 'long-names', `${i}`.padStart(250, 'n')), '');
  t.true(fs.lstatSync(path.join(root, 'long-names')).size > SMALL_DIRECTORY_BYTES);
  t.is(measureSmallTreeSync(path.join(root, 'long-names'), 32), undefined);
  const { result, counted } = countingCalls(() => measureSmallTreeSync(root, 32));
  t.is(result, undefined);
  t.true(counted.directoryReads <= 2, `the root and at most the small directory are read, not long-names (${counted.directoryReads} reads)`);
  // The measuring thread's walk counts it all, as du does.
  const { size, inodes } = measureDiskUsageSync(root);
  t.deepEqual({ size, inodes }, du(root));
});

test('the root\'s owner is reported (what a child snapshot\'s fs/ copies at Prepare)', (t) => {
  const root = path.join(makeTempDir(t, 'du-owner'), 'tree');
  fs.mkdirSync(root);
  fs.lchownSync(root, 100000, 100001);
  fs.writeFileSync(path.join(root, 'f'), 'x');
  t.deepEqual(measureDiskUsageSync(root).rootOwner, { uid: 100000, gid: 100001 });
});

test('a root that is a file is one inode; a missing root is an error', (t) => {
  const dir = makeTempDir(t, 'du-file');
  fs.writeFileSync(path.join(dir, 'f'), 'x'.repeat(10000));
  const { size, inodes } = measureDiskUsageSync(path.join(dir, 'f'));
  t.deepEqual({ size, inodes }, du(path.join(dir, 'f')));
  t.throws(() => measureDiskUsageSync(path.join(dir, 'missing')), { code: 'ENOENT' });
});
