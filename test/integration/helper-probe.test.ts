/**
 * tsov-helper's probe on real filesystems (ext4 under the test directory, a
 * tmpfs, a read-only bind mount), the `tsov probe` table, and who may talk to
 * the helper at all.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLI_MAIN, HELPER_MAIN } from '../../harness/daemon-process';
import { mountsUnder } from '../../harness/mounts';
import { MOUNT_CHECKS } from '../../helper/probe/mount-check-plan';
import { idmappedLayersSupport, type ProbeReport } from '../../helper/api/probe-report';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';

/** statfs type of a directory as coreutils' stat(1) reports it (hex), independent of tsov. */
function statfsMagic(dir: string): number {
  return parseInt(spawnSync('stat', ['-f', '-c', '%t', dir], { encoding: 'utf8' }).stdout.trim(), 16);
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = os.release().split('.').map((part) => parseInt(part, 10));
  return a! > major || (a === major && b! >= minor);
}

const UPPER_CHECKS = ['writable', 'trusted-xattr', 'user-xattr', 'whiteout-mknod', 'd_type', 'rename-whiteout', 'upper-xattr', 'tmpfile'];

function assertCompleteReport(t: ExecutionContext, report: ProbeReport, dir: string): void {
  t.is(report.filesystemMagic, statfsMagic(dir), 'the filesystem type is the one stat -f reports');
  t.is(report.kernelRelease, os.release());
  t.deepEqual(Object.keys(report.moduleParameters).sort(), fs.readdirSync('/sys/module/overlay/parameters').sort());
  t.deepEqual(report.upperChecks.map((c) => c.name), UPPER_CHECKS);
  t.deepEqual(report.mountChecks.map((c) => c.name), MOUNT_CHECKS.map((plan) => plan.name));
  t.true(report.mountChecks.find((c) => c.name === 'mount:overlay')!.ok, 'a basic overlay works as root on this filesystem');
  for (const check of report.mountChecks) t.regex(check.detail, check.ok ? /^mounted/ : /failed|but/, check.name);
  t.regex(report.mountChecks.find((c) => c.name === 'mount:redirect_dir=on')!.detail, /renaming a lower directory works/);
  t.is(report.fuseOverlayfs.ok, true, report.fuseOverlayfs.detail);
  t.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('.tsov-probe-')), [], 'the scratch directory is removed');
  t.deepEqual(mountsUnder(dir).filter((point) => point !== dir), [], 'no test mount is left');
}

test('probe on ext4: every check runs by a real test mount; the answer is cached per device and mount and refreshed on request', async (t) => {
  const base = makeTempDir(t, 'probe-ext4');
  const helper = await startHelper(t, helperLayout(base));
  const first = await helper.client.probe(helper.root);
  t.false(first.cached);
  assertCompleteReport(t, first, helper.root);
  t.true(first.upperChecks.every((c) => c.ok), JSON.stringify(first.upperChecks.filter((c) => !c.ok)));

  const again = await helper.client.probe(makeDirs(path.join(helper.root, 'sub'))[0]!);
  t.true(again.cached, 'another directory on the same device answers from the cache');
  t.is(again.probedAtMs, first.probedAtMs);
  const refreshed = await helper.client.probe(helper.root, true);
  t.false(refreshed.cached);
  t.true(refreshed.probedAtMs >= first.probedAtMs);
});

test('probe of idmapped lowers: on ext4 a lower file shows, and copies up, as the mapped root; ramfs cannot be idmapped and the probe says so', async (t) => {
  const base = makeTempDir(t, 'probe-idmap');
  const helper = await startHelper(t, helperLayout(base));
  const ext4 = await helper.client.probe(helper.root);
  const idmapped = ext4.mountChecks.find((c) => c.name === 'mount:idmapped-lowers')!;
  t.true(idmapped.ok, idmapped.detail);
  t.regex(idmapped.detail, /lower files show as the mapped root \(666\) and copy up so/);
  t.deepEqual(idmappedLayersSupport(ext4), { ok: true, reason: `idmapped overlay lowers work on ext4 (${helper.root}), kernel ${os.release()}` });

  const dir = makeDirs(path.join(helper.root, 'ramfs'))[0]!;
  t.is(spawnSync('mount', ['-t', 'ramfs', 'tsov-probe-test', dir]).status, 0);
  const ramfs = await helper.client.probe(dir);
  const refused = idmappedLayersSupport(ramfs);
  t.false(refused.ok);
  t.regex(refused.reason, /idmapped overlay lowers do not work on ramfs .*mount_setattr MOUNT_ATTR_IDMAP of a lower .*Invalid argument/);
  t.deepEqual(mountsUnder(dir).filter((point) => point !== dir), [], 'no test mount is left');
});

test('probe on tmpfs: user xattrs (and so userxattr uppers) follow the kernel version (6.6+)', async (t) => {
  const base = makeTempDir(t, 'probe-tmpfs');
  const helper = await startHelper(t, helperLayout(base));
  const dir = makeDirs(path.join(helper.root, 'tmpfs'))[0]!;
  t.is(spawnSync('mount', ['-t', 'tmpfs', 'tsov-probe-test', dir]).status, 0);
  const report = await helper.client.probe(dir);
  t.is(report.filesystem, 'tmpfs');
  assertCompleteReport(t, report, dir);
  t.is(report.upperChecks.find((c) => c.name === 'user-xattr')!.ok, kernelAtLeast(6, 6));
  t.is(report.mountChecks.find((c) => c.name === 'mount:userxattr')!.ok, kernelAtLeast(6, 6));
});

test('probe on a read-only mount says it cannot hold an upper, and tsov probe prints that as a table', async (t) => {
  const base = makeTempDir(t, 'probe-ro');
  const helper = await startHelper(t, helperLayout(base));
  const [source, dir] = makeDirs(path.join(base, 'rosrc'), path.join(helper.root, 'ro'));
  t.is(spawnSync('mount', ['--bind', '-o', 'ro', source!, dir!]).status, 0);
  const report = await helper.client.probe(dir!);
  t.deepEqual(report.upperChecks.map((c) => [c.name, c.ok]), [['writable', false]]);
  t.regex(report.upperChecks[0]!.detail, /cannot create a scratch directory .*EROFS/);
  t.deepEqual(report.mountChecks, []);

  const table = spawnSync(process.execPath, [CLI_MAIN, 'probe', dir!, '--helper-socket', helper.socket], { encoding: 'utf8' });
  t.is(table.status, 0, table.stderr);
  t.regex(table.stdout, /^AREA\s+CHECK\s+WORKS\s+DETAIL$/m);
  t.regex(table.stdout, /^upper\s+writable\s+NO\s+cannot create a scratch directory/m);
  t.regex(table.stdout, /\(cached; --refresh to probe again\)/);

  const json = spawnSync(process.execPath, [CLI_MAIN, 'probe', helper.root, '--json', '--helper-socket', helper.socket], { encoding: 'utf8' });
  t.is(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as ProbeReport;
  t.is(parsed.directory, helper.root);
  t.is(parsed.mountChecks.length, MOUNT_CHECKS.length);
});

test('probe outside the allowed roots is refused (it writes a scratch directory there)', async (t) => {
  const base = makeTempDir(t, 'probe-outside');
  const helper = await startHelper(t, helperLayout(base));
  const error = await t.throwsAsync(helper.client.probe('/etc'));
  t.regex(error.message, /"\/etc" is outside the allowed roots .*only allowed roots can be probed/);
  const cli = spawnSync(process.execPath, [CLI_MAIN, 'probe', '/etc', '--helper-socket', helper.socket], { encoding: 'utf8' });
  t.is(cli.status, 1);
  t.regex(cli.stderr, /^tsov: "\/etc" is outside the allowed roots/);
});

test('the helper socket is 0600 in a 0700 directory; an unprivileged user cannot connect', async (t) => {
  const base = makeTempDir(t, 'helper-access');
  fs.chmodSync(base, 0o755);
  const helper = await startHelper(t, helperLayout(base));
  t.is(fs.statSync(helper.socket).mode & 0o777, 0o600);
  t.is(fs.statSync(path.dirname(helper.socket)).mode & 0o777, 0o700);
  const script = `require('net').connect(${JSON.stringify(helper.socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
  const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
  t.is(asNobody.stdout.trim(), 'EACCES', asNobody.stderr);
  const cli = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI_MAIN, 'mounts', '--helper-socket', helper.socket], { encoding: 'utf8' });
  t.is(cli.status, 1);
  t.regex(cli.stderr, /cannot reach tsov-helper at .*helper\.sock/);
});

test('the helper refuses a socket directory others can enter, and refuses to run unprivileged', (t) => {
  const base = makeTempDir(t, 'helper-refusals');
  const open = makeDirs(path.join(base, 'open'))[0]!;
  fs.chmodSync(open, 0o755);
  const loose = spawnSync(process.execPath, [HELPER_MAIN, '--socket', path.join(open, 'h.sock'), '--state-dir', path.join(base, 'state'), '--allowed-root', base], { encoding: 'utf8' });
  t.is(loose.status, 1);
  t.regex(loose.stderr, /open \(mode 755, owner uid 0\) can be entered by others; the helper socket needs a directory only root can enter/);
  t.false(fs.existsSync(path.join(open, 'h.sock')));

  fs.chmodSync(base, 0o755);
  const unprivileged = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, HELPER_MAIN, '--socket', path.join(base, 'run', 'h.sock')], { encoding: 'utf8' });
  t.is(unprivileged.status, 1);
  t.regex(unprivileged.stderr, /^tsov-helper: tsov-helper mounts filesystems and must run as root/);
});
