/**
 * tsov-helper against the real kernel: overlay mounts with several lowers,
 * whiteouts and opaque directories, 500 lowers with long paths, the memory
 * and fuse backends, the kernel's own reason for a refused mount, owner-scoped
 * unmounting, and the journal surviving kill -9. Runs as root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { mountsUnder } from '../../harness/mounts';
import { readMountInfo } from '../../common/mountinfo';
import { NotFoundError, PermissionDeniedError } from '../../common/errors';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';
import { writeBundle } from '../support/runtime-bundle';
import { descriptorMountLineBytes } from '../../helper/api/mountinfo-line';

const write = (file: string, content: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
};
const isWhiteout = (file: string) => {
  const stat = fs.lstatSync(file);
  return stat.isCharacterDevice() && stat.rdev === 0;
};
const mountinfoText = () => fs.readFileSync('/proc/self/mountinfo', 'utf8');

function tsovCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('kernel backend: two lowers and an upper give the merged view; writes and deletions land in upper', async (t) => {
  const base = makeTempDir(t, 'helper-kernel');
  const helper = await startHelper(t, helperLayout(base));
  const [top, bottom, upper, work, target] = makeDirs(...['top', 'bottom', 'upper', 'work', 'merged'].map((d) => path.join(helper.root, d)));
  write(path.join(top!, 'shared'), 'from top');
  write(path.join(bottom!, 'shared'), 'from bottom');
  write(path.join(bottom!, 'only-bottom'), 'bottom');
  write(path.join(bottom!, 'dir', 'inner'), 'inner');

  const mount = await helper.client.mount({ owner: 'c1', lowers: [top!, bottom!], upper, work, target: target!, backend: 'kernel', choices: { index: 'off' } });
  t.is(mount.backend, 'kernel');
  t.is(mount.state, 'mounted');
  t.regex(mount.options, /^index=off,workdir=.*,upperdir=.*,lowerdir=.*top:.*bottom$/);
  const entry = mountsUnder(target!).length;
  t.is(entry, 1, 'one mount at the target');
  t.is(fs.readFileSync(path.join(target!, 'shared'), 'utf8'), 'from top', 'the leftmost lower wins');
  t.is(fs.readFileSync(path.join(target!, 'only-bottom'), 'utf8'), 'bottom');

  fs.writeFileSync(path.join(target!, 'new'), 'written');
  fs.rmSync(path.join(target!, 'only-bottom'));
  fs.rmSync(path.join(target!, 'dir'), { recursive: true });
  t.is(fs.readFileSync(path.join(upper!, 'new'), 'utf8'), 'written', 'the write persists in upperdir');
  t.true(isWhiteout(path.join(upper!, 'only-bottom')), 'a deleted lower file is a 0/0 whiteout in upperdir');
  t.true(isWhiteout(path.join(upper!, 'dir')), 'a deleted lower directory is a whiteout in upperdir');
  t.true(fs.existsSync(path.join(bottom!, 'only-bottom')), 'the lower itself is untouched');

  const listed = tsovCli(['mounts', '--helper-socket', helper.socket]);
  t.is(listed.status, 0, listed.stderr);
  t.regex(listed.stdout, new RegExp(`^${mount.id}\\s+c1\\s+kernel\\s+mounted\\s+2\\s+${upper}\\s+${target}$`, 'm'));

  await helper.client.unmount(mount.id, 'c1');
  t.deepEqual(mountsUnder(target!), []);
  t.deepEqual(await helper.client.list(), []);
});

test('whiteouts and opaque directories inside lower layers are honoured by a read-only stack', async (t) => {
  const base = makeTempDir(t, 'helper-whiteouts');
  const helper = await startHelper(t, helperLayout(base));
  const [top, bottom, target] = makeDirs(...['top', 'bottom', 'merged'].map((d) => path.join(helper.root, d)));
  write(path.join(bottom!, 'gone'), 'deleted by the top layer');
  write(path.join(bottom!, 'opaque', 'old'), 'hidden by the opaque dir');
  write(path.join(bottom!, 'kept'), 'kept');
  t.is(spawnSync('mknod', [path.join(top!, 'gone'), 'c', '0', '0']).status, 0);
  write(path.join(top!, 'opaque', 'new'), 'new');
  t.is(spawnSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(top!, 'opaque')]).status, 0);

  const mount = await helper.client.mount({ owner: 'ro', lowers: [top!, bottom!], target: target!, backend: 'kernel', choices: {} });
  t.false(fs.existsSync(path.join(target!, 'gone')), 'the whiteout hides the lower file');
  t.deepEqual(fs.readdirSync(path.join(target!, 'opaque')), ['new'], 'the opaque directory hides the lower contents');
  t.is(fs.readFileSync(path.join(target!, 'kept'), 'utf8'), 'kept');
  t.throws(() => fs.writeFileSync(path.join(target!, 'x'), 'x'), { code: 'EROFS' }, 'no upper: read-only');
  await helper.client.unmount(mount.id, 'ro');
});

// With descriptors (auto) the lowers' paths stay short enough for a mountinfo line Go can read
// (helper/api/mountinfo-line.ts; longer ones are mounted the legacy way: the test below).
for (const [api, levels] of [['auto', 1], ['legacy', 8]] as const) {
  test(`500 lowers with long paths mount by descriptor and stack in order (--mount-api ${api})`, async (t) => {
    const base = makeTempDir(t, `helper-500-${api}`);
    const helper = await startHelper(t, helperLayout(base), 'warn', ['--mount-api', api]);
    const deep = path.join(helper.root, ...Array.from({ length: levels }, (_, i) => `a-rather-long-directory-name-for-level-${i}`), 'layers');
    const lowers = Array.from({ length: 500 }, (_, i) => path.join(deep, String(i)));
    for (const [i, lower] of lowers.entries()) {
      write(path.join(lower, `file-${i}`), String(i));
      write(path.join(lower, 'top'), String(i));
    }
    const [upper, work, target] = makeDirs(...['upper', 'work', 'merged'].map((d) => path.join(helper.root, d)));
    t.true(lowers.join(':').length > 4096 * 10, `absolute lowerdir is ${lowers.join(':').length} bytes: ten pages, where mount(2) takes one`);

    const mount = await helper.client.mount({ owner: 'big', lowers, upper, work, target: target!, backend: 'kernel', choices: {} });
    t.true(mount.options.includes(`lowerdir=${lowers.join(':')}`), 'the journal names every real lower, in order');
    const shown = readMountInfo().find((m) => m.mountPoint === target && m.fsType === 'overlay')!;
    if (api === 'auto') {
      // Linux >= 6.13 takes layers as descriptors and shows their real paths (fsconfig lowerdir+).
      t.deepEqual(shown.superOptions.filter((o) => o.startsWith('lowerdir+=')).map((o) => o.slice('lowerdir+='.length)), lowers, 'mountinfo names every real lower');
      const line = mountinfoText().split('\n').find((l) => l.includes(` ${target} `))!;
      t.true(line.length < 64 * 1024, `its mountinfo line (${line.length} bytes) is one Go's bufio.Scanner reads`);
      const estimate = descriptorMountLineBytes({ lowers, upper, work }, target!, shown.source);
      t.true(estimate >= line.length && estimate < line.length + 2048, `the helper's estimate of that line (${estimate} bytes) bounds it, closely`);
      t.true(shown.superOptions.includes(`upperdir=${upper}`));
    } else {
      // mount(2) with the descriptors relative to /proc/self/fd: one page holds 500 of them.
      t.regex(shown.superOptions.join(','), /lowerdir=\d+:\d+:/, 'mountinfo shows the descriptor numbers the kernel was given');
    }
    t.is(fs.readFileSync(path.join(target!, 'top'), 'utf8'), '0', 'lowers[0] is on top');
    t.is(fs.readdirSync(target!).filter((name) => name.startsWith('file-')).length, 500);
    t.is(fs.readFileSync(path.join(target!, 'file-499'), 'utf8'), '499');
    fs.writeFileSync(path.join(target!, 'file-499'), 'changed');
    t.is(fs.readFileSync(path.join(upper!, 'file-499'), 'utf8'), 'changed');
    await helper.client.unmount(mount.id, 'big');

    const tooMany = [...lowers, path.join(deep, 'extra')];
    fs.mkdirSync(tooMany.at(-1)!);
    const error = await t.throwsAsync(helper.client.mount({ owner: 'big', lowers: tooMany, target: target!, backend: 'kernel', choices: {} }));
    t.regex(error.message, /501 lower directories; the kernel stacks at most 500/);
  });
}

test('memory backend: upper and work on a size-limited tmpfs made for the mount, gone after unmount', async (t) => {
  const base = makeTempDir(t, 'helper-memory');
  const helper = await startHelper(t, helperLayout(base));
  const [lower, target] = makeDirs(path.join(helper.root, 'lower'), path.join(helper.root, 'merged'));
  write(path.join(lower!, 'base'), 'base');
  const mount = await helper.client.mount({ owner: 'mem', lowers: [lower!], target: target!, backend: 'memory', choices: {}, memoryBytes: 4 * 1024 * 1024 });
  t.is(mount.backend, 'memory');
  t.not(mount.memoryDirectory, '');
  const tmpfs = mountsUnder(mount.memoryDirectory);
  t.is(tmpfs.length, 1, 'a tmpfs at the memory directory');
  t.regex(mountinfoText(), new RegExp(`${mount.memoryDirectory} \\S+ - tmpfs tsov-m${mount.id}-memory \\S*size=4096k`));

  fs.writeFileSync(path.join(target!, 'scratch'), 'in memory');
  t.is(fs.readFileSync(path.join(mount.memoryDirectory, 'upper', 'scratch'), 'utf8'), 'in memory');
  t.false(fs.existsSync(path.join(lower!, 'scratch')));
  t.throws(() => fs.writeFileSync(path.join(target!, 'big'), Buffer.alloc(5 * 1024 * 1024)), { code: 'ENOSPC' }, 'the tmpfs size limit holds');

  await helper.client.unmount(mount.id, 'mem');
  t.deepEqual(mountsUnder(target!), []);
  t.false(fs.existsSync(mount.memoryDirectory), 'the memory directory is removed');
  t.deepEqual(fs.readdirSync(lower!), ['base']);
});

test('a user-namespaced mount: lowers idmapped to it, the memory upper its root\'s, both recorded for tsov mounts', async (t) => {
  const base = makeTempDir(t, 'helper-userns');
  const helper = await startHelper(t, helperLayout(base));
  const [lower, upper, work, target, memTarget] = makeDirs(...['lower', 'upper', 'work', 'merged', 'mem-merged'].map((d) => path.join(helper.root, d)));
  write(path.join(lower!, 'file'), 'lower');
  const idMapping = { uid: [{ containerId: 0, hostId: 300000, size: 65536 }], gid: [{ containerId: 0, hostId: 310000, size: 65536 }] };
  const kernel = await helper.client.mount({ owner: 'userns', lowers: [lower!], upper, work, target: target!, backend: 'kernel', choices: {}, idMapping });
  t.deepEqual([fs.statSync(path.join(target!, 'file')).uid, fs.statSync(path.join(target!, 'file')).gid], [300000, 310000], 'the lower file shows as the mapped root');
  t.regex(kernel.options, /^uidmap=0:300000:65536,gidmap=0:310000:65536,/);
  const memory = await helper.client.mount({ owner: 'userns', lowers: [lower!], target: memTarget!, backend: 'memory', choices: {}, idMapping });
  const root = fs.statSync(path.join(memory.memoryDirectory, 'upper'));
  t.deepEqual([root.uid, root.gid], [300000, 310000], 'the tmpfs upper belongs to the mapped root');
  const listed = spawnSync(process.execPath, [CLI_MAIN, 'mounts', '--owner', 'userns', '--json', '--helper-socket', helper.socket], { encoding: 'utf8' });
  t.is(listed.status, 0, listed.stderr);
  t.true((JSON.parse(listed.stdout) as Array<{ options: string }>).every((m) => m.options.startsWith('uidmap=0:300000:65536,gidmap=0:310000:65536,')));
  await helper.client.release('userns');
  t.deepEqual(mountsUnder(helper.root), []);
});

test('fuse backend: fuse-overlayfs with the same layers; writes persist in upper', async (t) => {
  const base = makeTempDir(t, 'helper-fuse');
  const helper = await startHelper(t, helperLayout(base));
  const [top, bottom, upper, work, target] = makeDirs(...['top', 'bottom', 'upper', 'work', 'merged'].map((d) => path.join(helper.root, d)));
  write(path.join(top!, 'a'), 'top');
  write(path.join(bottom!, 'b'), 'bottom');
  const mount = await helper.client.mount({ owner: 'f1', lowers: [top!, bottom!], upper, work, target: target!, backend: 'fuse', choices: {} });
  t.is(mount.backend, 'fuse');
  t.regex(mountinfoText(), new RegExp(`${target} \\S+ - fuse\\.fuse-overlayfs `));
  await new Promise((resolve) => setTimeout(resolve, 300)); // the daemon must outlive its parent's pipes
  t.deepEqual(fs.readdirSync(target!).sort(), ['a', 'b']);
  fs.writeFileSync(path.join(target!, 'c'), 'written');
  fs.rmSync(path.join(target!, 'b'));
  t.is(fs.readFileSync(path.join(upper!, 'c'), 'utf8'), 'written');
  t.true(isWhiteout(path.join(upper!, 'b')));
  t.deepEqual(await helper.client.release('f1'), [mount.id]);
  t.deepEqual(mountsUnder(target!), []);
});

test('auto backend picks the kernel overlay when the probe says it works, and records why', async (t) => {
  const base = makeTempDir(t, 'helper-auto');
  const helper = await startHelper(t, helperLayout(base));
  const [lower, upper, work, target] = makeDirs(...['lower', 'rw/upper', 'rw/work', 'merged'].map((d) => path.join(helper.root, d)));
  const mount = await helper.client.mount({ owner: 'a1', lowers: [lower!], upper, work, target: target!, backend: 'auto', choices: {} });
  t.is(mount.backend, 'kernel');
  t.regex(mount.backendReason, /^kernel overlay works on ext4/);
  await helper.client.unmount(mount.id, 'a1');
});

test("a mount the kernel refuses reports the kernel's overlayfs: line and a hint", async (t) => {
  const base = makeTempDir(t, 'helper-kmsg');
  const helper = await startHelper(t, helperLayout(base));
  const [a, b, upper, work1, work2, target] = makeDirs(...['a', 'b', 'rw/upper', 'rw/work1', 'rw/work2', 'merged'].map((d) => path.join(helper.root, d)));
  // index=on records the upper's origin; reusing the upper over other lowers is refused by the kernel alone.
  const first = await helper.client.mount({ owner: 'k', lowers: [a!], upper, work: work1, target: target!, backend: 'kernel', choices: { index: 'on' } });
  await helper.client.unmount(first.id, 'k');
  const before = mountsUnder(base);
  const error = await t.throwsAsync(helper.client.mount({ owner: 'k', lowers: [b!], upper, work: work2, target: target!, backend: 'kernel', choices: { index: 'on' } }));
  t.regex(error.message, /overlay mount at .* failed; kernel: overlayfs: failed to verify upper root origin/);
  t.regex(error.message, /hint: this upper was used with other lower layers while index=on/);
  t.deepEqual(mountsUnder(base), before, 'nothing was mounted');
  t.deepEqual(await helper.client.list(), [], 'the failed attempt leaves no journal entry');
});

test('Unmount is owner-scoped; a busy mount is refused without detach and detached with it', async (t) => {
  const base = makeTempDir(t, 'helper-unmount');
  const helper = await startHelper(t, helperLayout(base));
  const [a, b, target] = makeDirs(...['a', 'b', 'merged'].map((d) => path.join(helper.root, d)));
  write(path.join(a!, 'f'), 'f');
  const mount = await helper.client.mount({ owner: 'owner-1', lowers: [a!, b!], target: target!, backend: 'kernel', choices: {} });

  // The helper's error class comes back through the gRPC status (PERMISSION_DENIED, NOT_FOUND).
  const wrongOwner = await t.throwsAsync(helper.client.unmount(mount.id, 'owner-2'), { instanceOf: PermissionDeniedError });
  t.regex(wrongOwner.message, /belongs to owner "owner-1", not "owner-2"/);
  await t.throwsAsync(helper.client.unmount(9999, 'owner-1'), { instanceOf: NotFoundError });

  const holder = fs.openSync(path.join(target!, 'f'), 'r');
  try {
    const busy = await t.throwsAsync(helper.client.unmount(mount.id, 'owner-1'));
    t.regex(busy.message, /is busy: a process still uses files under it .*unmount with detach/);
    t.is(mountsUnder(target!).length, 1, 'still mounted after the refusal');
    t.deepEqual(await helper.client.unmount(mount.id, 'owner-1', true), { detached: true });
    t.deepEqual(mountsUnder(target!), []);
  } finally {
    fs.closeSync(holder);
  }
});

test('kill -9 with live mounts: the next start adopts them, tsov mounts lists them, Unmount works', async (t) => {
  const base = makeTempDir(t, 'helper-crash');
  const layout = helperLayout(base);
  const first = await startHelper(t, layout);
  const root = first.root;
  const [a, b, upper, work, t1, t2, t3] = makeDirs(...['a', 'b', 'rw/upper', 'rw/work', 'm1', 'm2', 'm3'].map((d) => path.join(root, d)));
  const ownerState = makeDirs(path.join(base, 'owner-state'))[0]!;
  const kept = await first.client.mount({ owner: 'live', lowers: [a!], upper, work, target: t1!, backend: 'kernel', choices: {} });
  const orphan = await first.client.mount({ owner: 'dead', lowers: [a!, b!], target: t2!, backend: 'kernel', choices: {}, ownerAlivePath: ownerState });
  const vanished = await first.client.mount({ owner: 'gone', lowers: [a!, b!], target: t3!, backend: 'memory', choices: {} });
  t.is(await first.stop('SIGKILL'), 'SIGKILL');

  fs.rmSync(ownerState, { recursive: true }); // the owner of the second mount no longer exists
  t.is(spawnSync('umount', [t3!]).status, 0); // someone unmounted the third behind the helper's back

  const second = await startHelper(t, layout, 'info');
  const listed = tsovCli(['mounts', '--json', '--helper-socket', layout.socket]);
  t.is(listed.status, 0, listed.stderr);
  const mounts = JSON.parse(listed.stdout) as Array<{ id: number; owner: string; state: string }>;
  t.deepEqual(mounts.map((m) => [m.id, m.owner, m.state]), [[kept.id, 'live', 'mounted']], 'adopted the live one, released the orphan, dropped the vanished one');
  t.deepEqual(mountsUnder(t2!), [], "the dead owner's mount was released");
  t.deepEqual(mountsUnder(vanished.memoryDirectory), [], "the vanished memory mount's tmpfs was cleaned up");
  t.false(fs.existsSync(vanished.memoryDirectory));
  t.regex(second.stderr(), /released a mount whose owner is gone/);

  const unmounted = tsovCli(['unmount', String(kept.id), '--owner', 'live', '--helper-socket', layout.socket]);
  t.is(unmounted.status, 0, unmounted.stderr);
  t.regex(unmounted.stdout, new RegExp(`mount ${kept.id} unmounted`));
  t.deepEqual(mountsUnder(t1!), []);
  t.not(orphan.id, kept.id);
});

test('500 lowers whose paths make a mountinfo line past 64 KiB: runc (moby/sys/mountinfo reads lines with a 64 KiB bufio.Scanner) still runs containers while it is mounted', async (t) => {
  const base = makeTempDir(t, 'helper-long-line');
  const helper = await startHelper(t, helperLayout(base), 'warn');
  const deep = path.join(helper.root, ...Array.from({ length: 8 }, (_, i) => `a-rather-long-directory-name-for-level-${i}`), 'layers');
  const lowers = Array.from({ length: 500 }, (_, i) => path.join(deep, String(i)));
  for (const lower of lowers) fs.mkdirSync(lower, { recursive: true });
  const [upper, work, target] = makeDirs(...['upper', 'work', 'merged'].map((d) => path.join(helper.root, d)));
  t.true(lowers.reduce((sum, lower) => sum + 'lowerdir+='.length + lower.length + 1, 0) > 64 * 1024, 'named one by one, the lowers alone pass 64 KiB');
  const mount = await helper.client.mount({ owner: 'long', lowers, upper, work, target: target!, backend: 'kernel', choices: {} });
  t.teardown(() => helper.client.unmount(mount.id, 'long').then(() => undefined, () => undefined));
  const bundle = writeBundle(path.join(base, 'bundle'), { args: ['true'], mounts: [] });
  const ran = spawnSync('runc', ['--root', path.join(base, 'runc'), 'run', '--bundle', bundle, `tsov-long-line-${process.pid}`], { encoding: 'utf8', timeout: 60_000 });
  t.is(ran.status, 0, `runc run: ${ran.stderr}`);
  const longest = Math.max(...mountinfoText().split('\n').map((line) => line.length));
  t.true(longest < 64 * 1024, `the longest mountinfo line is ${longest} bytes`);
  t.is(fs.readdirSync(target!).length, 0, 'the overlay still serves (empty lowers)');
});
