/**
 * The systemd units are checked the way systemd would load them (PID 1 is not
 * systemd here): `systemd-analyze verify` must be clean and the offline
 * security exposure must stay within its limit. ExecStart is pointed at the
 * built entry point so that verify can check the binary exists.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HELPER_MAIN } from '../../harness/daemon-process';
import { TSOV_MOUNT } from '../../helper/host/mount-commands';
import { DEFAULT_HELPER_SOCKET, DEFAULT_SNAPSHOTTER_SOCKET } from '../../policy/defaults';
import { REPO_ROOT, SNAPSHOTTER_MAIN } from '../support/paths';
import { makeTempDir } from '../support/temp-dir';

const UNITS = [
  { unit: 'tsov-snapshotter.service', installedBinary: '/usr/local/bin/tsov-snapshotter', built: SNAPSHOTTER_MAIN, maxExposure: 4.5 },
  { unit: 'tsov-helper.service', installedBinary: '/usr/local/bin/tsov-helper', built: HELPER_MAIN, maxExposure: 6.0 },
];

test('tsov-snapshotter.service requires tsov-helper.service and starts after it, both before containerd', (t) => {
  const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'tsov-snapshotter.service'), 'utf8');
  t.regex(unit, /^Requires=tsov-helper\.service$/m);
  t.regex(unit, /^After=.*tsov-helper\.service/m);
  t.regex(unit, /^Before=containerd\.service$/m);
  t.regex(fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'tsov-helper.service'), 'utf8'), /^Before=containerd\.service/m);
});

test('tsov-helper.service keeps the host mount namespace: no option that makes a private one', (t) => {
  const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'tsov-helper.service'), 'utf8');
  const settings = unit.split('\n').filter((line) => /^[A-Za-z]+=/.test(line));
  const namespacing = /^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|ProtectHostname|PrivateNetwork|MountFlags|TemporaryFileSystem|BindPaths|BindReadOnlyPaths)=/;
  t.deepEqual(settings.filter((line) => namespacing.test(line)), []);
  t.true(settings.includes('PrivateMounts=no'));
  t.true(settings.includes('KillMode=process'), 'stopping the helper leaves fuse-overlayfs daemons serving their mounts');
});

/** The sockets systemd holds for the services (socket activation). */
const SOCKETS = [
  { unit: 'tsov-helper.socket', service: 'tsov-helper.service', path: DEFAULT_HELPER_SOCKET, policyKey: 'helper.socket' },
  { unit: 'tsov-snapshotter.socket', service: 'tsov-snapshotter.service', path: DEFAULT_SNAPSHOTTER_SOCKET, policyKey: 'snapshotter.address' },
];

/** Every unit in a directory (they refer to each other), with ExecStart at the built files. */
function unitDirectory(t: Parameters<typeof makeTempDir>[0]): string {
  const dir = makeTempDir(t, 'units');
  for (const other of UNITS) {
    fs.writeFileSync(path.join(dir, other.unit), fs.readFileSync(path.join(REPO_ROOT, 'systemd', other.unit), 'utf8').replaceAll(other.installedBinary, other.built));
  }
  for (const socket of SOCKETS) fs.copyFileSync(path.join(REPO_ROOT, 'systemd', socket.unit), path.join(dir, socket.unit));
  return dir;
}

for (const socket of SOCKETS) {
  test(`${socket.unit}: systemd-analyze verify is clean; root-only, at the default ${socket.policyKey}; its service requires it and enables it`, (t) => {
    const dir = unitDirectory(t);
    const verify = spawnSync('systemd-analyze', ['verify', path.join(dir, socket.unit)], { encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    t.is(verify.status, 0, verify.stderr);
    t.is(verify.stderr.trim(), '', 'no warnings');
    const text = fs.readFileSync(path.join(dir, socket.unit), 'utf8');
    t.deepEqual(text.match(/^ListenStream=.*$/gm), [`ListenStream=${socket.path}`], 'one socket, at the path the daemon and its clients are configured with');
    t.regex(text, /^SocketMode=0600$/m);
    const service = fs.readFileSync(path.join(dir, socket.service), 'utf8');
    t.regex(service, new RegExp(`^Requires=${socket.unit.replace('.', '\\.')}$`, 'm'));
    t.regex(service, new RegExp(`^After=.*${socket.unit.replace('.', '\\.')}`, 'm'));
    t.regex(service, new RegExp(`^Also=${socket.unit.replace('.', '\\.')}$`, 'm'));
    // The socket lives in the service's runtime directory: stopping the service must not delete it.
    t.regex(service, /^RuntimeDirectoryPreserve=yes$/m);
  });
}

for (const { unit, maxExposure } of UNITS) {
  test(`${unit}: systemd-analyze verify is clean and exposure <= ${maxExposure}`, (t) => {
    const dir = unitDirectory(t);
    const file = path.join(dir, unit);
    const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    t.is(verify.status, 0, verify.stderr);
    t.is(verify.stderr.trim(), '', 'no warnings');
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    const match = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout);
    t.truthy(match, security.stdout + security.stderr);
    const exposure = Number(match![1]);
    t.log(`${unit}: systemd-analyze security exposure ${exposure}`);
    t.true(exposure <= maxExposure, `exposure ${exposure} is over ${maxExposure}`);
  });
}

/**
 * An idmapped overlay made by tsov-mount with only the capabilities the unit
 * leaves tsov-helper (its CapabilityBoundingSet, applied with setpriv): it
 * writes the id maps of the user namespace it makes, which takes CAP_SETUID
 * and CAP_SETGID (user_namespaces(7), "Defining user and group ID mappings").
 * RestrictNamespaces=user, which lets it make that namespace, cannot be
 * applied without systemd as PID 1; the unit file is checked for it.
 */
test('tsov-helper.service leaves the helper what an idmapped mount takes: its capabilities suffice, and user namespaces are allowed', (t) => {
  const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'tsov-helper.service'), 'utf8');
  t.regex(unit, /^RestrictNamespaces=user$/m);
  const capabilities = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1]!.split(/\s+/).map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`);
  const base = makeTempDir(t, 'unit-caps');
  const dirs = ['lower', 'upper', 'work', 'merged'].map((name) => path.join(base, name));
  for (const dir of dirs) fs.mkdirSync(dir);
  const fds = dirs.map((dir) => fs.openSync(dir, 'r'));
  try {
    const mount = spawnSync('setpriv', ['--bounding-set', ['-all', ...capabilities].join(','), TSOV_MOUNT, 'overlay', '--source', 'tsov-unit-test', '--target', '6', '--lower', '3', '--upper', '4', '--work', '5', '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
    });
    t.is(mount.status, 0, `${capabilities.join(',')}: ${mount.stderr}`);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
    spawnSync('umount', [dirs[3]!]);
  }
});
