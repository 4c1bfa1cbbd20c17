/**
 * tsov-mount's id map arguments (helper/native/tsov-mount.c add_range): only
 * "C:H:S" with decimal ids that stay below (uid_t)-1 reach the kernel; every
 * other form exits 2 before anything is mounted. And what it does with a good
 * one: the lowers idmapped, the upper not (a write by the mapped root lands
 * with its host id), checked with stat from outside.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { mountsUnder } from '../../harness/mounts';
import { idMappingArguments, TSOV_MOUNT } from '../../helper/host/mount-commands';
import { makeTempDir } from '../support/temp-dir';
import { makeDirs } from '../support/helper-process';

function layers(t: Parameters<typeof makeTempDir>[0]) {
  const base = makeTempDir(t, 'tsov-mount-idmap');
  fs.chmodSync(base, 0o711);
  const [lower, upper, work, merged] = makeDirs(...['lower', 'upper', 'work', 'merged'].map((d) => path.join(base, d)));
  fs.writeFileSync(path.join(lower!, 'file'), 'lower\n');
  return { base, lower: lower!, upper: upper!, work: work!, merged: merged! };
}

/** tsov-mount overlay with lower, upper, work, target as fds 3-6, and the given id map arguments. */
function mountWith(dirs: ReturnType<typeof layers>, idArgs: string[]) {
  const fds = [dirs.lower, dirs.upper, dirs.work, dirs.merged].map((dir) => fs.openSync(dir, 'r'));
  try {
    return spawnSync(TSOV_MOUNT, ['overlay', '--source', 'tsov-idmap-test', '--target', '6', '--lower', '3', '--upper', '4', '--work', '5', ...idArgs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
    });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

const malformed: Array<[string, string[], RegExp]> = [
  ['a range with two fields', ['--uidmap', '0:100000', '--gidmap', '0:1:1'], /an id map range is C:H:S/],
  ['a range with four fields', ['--uidmap', '0:1:1:1', '--gidmap', '0:1:1'], /decimal numbers/],
  ['a negative id', ['--uidmap', '0:-1:1', '--gidmap', '0:1:1'], /decimal numbers/],
  ['a hexadecimal id', ['--uidmap', '0:0x10:1', '--gidmap', '0:1:1'], /decimal numbers/],
  ['an id of eleven digits', ['--uidmap', '0:10000000000:1', '--gidmap', '0:1:1'], /decimal numbers/],
  ['an empty field', ['--uidmap', '0::1', '--gidmap', '0:1:1'], /decimal numbers/],
  ['a size of 0', ['--uidmap', '0:1:0', '--gidmap', '0:1:1'], /map at least one id and stay below 4294967295/],
  ['a range reaching (uid_t)-1', ['--uidmap', '0:4294967290:10', '--gidmap', '0:1:1'], /stay below 4294967295/],
  ['a newline smuggled into the map', ['--uidmap', '0:1:1\n1 2 3', '--gidmap', '0:1:1'], /decimal numbers/],
  ['a uid map without a gid map', ['--uidmap', '0:100000:65536'], /--uidmap and --gidmap go together/],
];
for (const [title, args, message] of malformed) {
  test(`tsov-mount refuses ${title} and mounts nothing`, (t) => {
    const dirs = layers(t);
    const result = mountWith(dirs, args);
    t.is(result.status, 2, result.stderr);
    t.regex(result.stderr, message);
    t.deepEqual(mountsUnder(dirs.base), []);
  });
}

test('tsov-mount idmaps the lowers and not the upper: the mapped root sees lower files as its own and writes with its host id', (t) => {
  const dirs = layers(t);
  fs.chownSync(dirs.upper, 100000, 100000);
  const mapping = { uid: [{ containerId: 0, hostId: 100000, size: 65536 }], gid: [{ containerId: 0, hostId: 100000, size: 65536 }] };
  t.deepEqual(idMappingArguments(mapping), ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536']);
  const result = mountWith(dirs, idMappingArguments(mapping));
  t.is(result.status, 0, result.stderr);
  try {
    t.is(fs.statSync(path.join(dirs.merged, 'file')).uid, 100000, 'a lower file owned by 0 shows as the mapped root');
    // As host uid 100000 (the container's root): append to the lower file (copy-up) and create one.
    const write = spawnSync('setpriv', ['--reuid=100000', '--regid=100000', '--clear-groups', 'sh', '-c', `echo more >> ${dirs.merged}/file && echo new > ${dirs.merged}/new`], { encoding: 'utf8' });
    t.is(write.status, 0, write.stderr);
    for (const name of ['file', 'new']) t.is(fs.statSync(path.join(dirs.upper, name)).uid, 100000, `${name} in the upper`);
    t.is(fs.statSync(path.join(dirs.lower, 'file')).uid, 0, 'the lower itself keeps its owner');
    t.is(fs.readFileSync(path.join(dirs.lower, 'file'), 'utf8'), 'lower\n');
  } finally {
    spawnSync('umount', [dirs.merged]);
  }
});

/** Processes whose command line holds marker (the forked helper process of tsov-mount has its parent's). */
function processesWith(marker: string): string[] {
  return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
}

test('a tsov-mount that fails after making its user namespace leaves no process behind', async (t) => {
  const dirs = layers(t);
  const marker = `tsov-leak-${process.pid}-${Date.now()}`;
  // Without CAP_SETUID/CAP_SETGID the id maps cannot be written: tsov-mount fails after forking the namespace's process.
  const fds = [dirs.lower, dirs.upper, dirs.work, dirs.merged].map((dir) => fs.openSync(dir, 'r'));
  try {
    const result = spawnSync('setpriv', ['--bounding-set', '-setuid,-setgid', TSOV_MOUNT, 'overlay', '--source', marker, '--target', '6', '--lower', '3', '--upper', '4', '--work', '5', '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
      // A process left behind would hold the output pipes open, and spawnSync would wait for it.
      timeout: 10_000,
    });
    t.is(result.status, 1, result.stderr);
    t.regex(result.stderr, /writing the user namespace's id map: Operation not permitted/);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(processesWith(marker), [], 'the forked process ended with tsov-mount');
  t.deepEqual(mountsUnder(dirs.base), []);
});
