/**
 * tsov install / uninstall into a scratch root (--destdir): links, units,
 * the default policy (an edited one is kept), and the containerd config
 * merged with a backup and still accepted by containerd itself.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { REPO_ROOT } from '../support/paths';
import { makeTempDir } from '../support/temp-dir';

const tsov = (...args: string[]) => spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });

test('install links the executables, writes units and policy, merges containerd config; uninstall takes it back', (t) => {
  const destdir = makeTempDir(t, 'install');
  const containerdConfig = path.join(destdir, 'containerd.toml');
  const original = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.9"\n';
  fs.writeFileSync(containerdConfig, original);

  const first = tsov('install', '--destdir', destdir, '--prefix', '/opt/tsov', '--containerd-config', containerdConfig);
  t.is(first.status, 0, first.stderr);
  const bin = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
  t.deepEqual(Object.keys(bin).sort(), ['tsov', 'tsov-helper', 'tsov-runtime', 'tsov-snapshotter']);
  for (const [name, file] of Object.entries(bin)) {
    const link = path.join(destdir, 'opt/tsov/bin', name);
    t.true(fs.lstatSync(link).isSymbolicLink(), name);
    t.is(fs.readlinkSync(link), path.join(REPO_ROOT, file), name);
  }
  const runtimeThroughLink = spawnSync(path.join(destdir, 'opt/tsov/bin/tsov-runtime'), ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, TSOV_RUNTIME_CACHE: path.join(destdir, 'runtime-cache') },
  });
  t.regex(runtimeThroughLink.stdout, /^runc version/, 'tsov-runtime runs through its link (its Node part is found from the real path)');
  const versionThroughLink = spawnSync(path.join(destdir, 'opt/tsov/bin/tsov'), ['help'], { encoding: 'utf8' });
  t.is(versionThroughLink.status, 0, 'the linked executable runs');
  const unit = fs.readFileSync(path.join(destdir, 'etc/systemd/system/tsov-helper.service'), 'utf8');
  t.regex(unit, /^ExecStart=\/opt\/tsov\/bin\/tsov-helper --config \/etc\/tsov\/config.yaml$/m);
  t.true(fs.existsSync(path.join(destdir, 'etc/systemd/system/tsov-snapshotter.service')));
  for (const socketUnit of ['tsov-helper.socket', 'tsov-snapshotter.socket']) {
    t.is(fs.readFileSync(path.join(destdir, 'etc/systemd/system', socketUnit), 'utf8'), fs.readFileSync(path.join(REPO_ROOT, 'systemd', socketUnit), 'utf8'), `${socketUnit} installed`);
  }
  t.is(fs.readFileSync(path.join(destdir, 'etc/tsov/config.yaml'), 'utf8'), fs.readFileSync(path.join(REPO_ROOT, 'config.example.yaml'), 'utf8'));
  const merged = fs.readFileSync(containerdConfig, 'utf8');
  t.true(merged.startsWith(original));
  t.regex(first.stdout, /merged {3}\[proxy_plugins\.tsov\] into .*\(backup: .*containerd\.toml\.tsov-backup-/);
  const backups = fs.readdirSync(destdir).filter((name) => name.startsWith('containerd.toml.tsov-backup-'));
  t.is(backups.length, 1);
  t.is(fs.readFileSync(path.join(destdir, backups[0]!), 'utf8'), original);
  const dump = spawnSync('containerd', ['--config', containerdConfig, 'config', 'dump'], { encoding: 'utf8' });
  t.is(dump.status, 0, dump.stderr);
  t.regex(dump.stdout, /\[proxy_plugins\.tsov\]\s+address = "\/run\/tsov\/tsov\.sock"/, 'containerd reads the merged table');
  const imageFsLink = path.join(destdir, 'var/lib/containerd/io.containerd.snapshotter.v1.tsov');
  t.is(fs.readlinkSync(imageFsLink), '/var/lib/tsov', 'containerd 1.6: the path its CRI reports as the image filesystem leads to tsov\'s root');
  t.regex(first.stdout, /found {4}containerd 1\.6/);
  t.regex(first.stdout, /remap-ids not listed: containerd 1\.x cannot mount idmapped layers/);
  t.notRegex(merged, /capabilities/);

  fs.appendFileSync(path.join(destdir, 'etc/tsov/config.yaml'), '# edited by the operator\n');
  const again = tsov('install', '--destdir', destdir, '--prefix', '/opt/tsov', '--containerd-config', containerdConfig);
  t.is(again.status, 0, again.stderr);
  t.regex(again.stdout, /kept {5}.*config\.yaml \(edited; the shipped default is in .*config\.yaml\.example\)/);
  t.regex(fs.readFileSync(path.join(destdir, 'etc/tsov/config.yaml'), 'utf8'), /# edited by the operator/);
  t.regex(again.stdout, /kept {5}.*containerd\.toml: it already has \[proxy_plugins\.tsov\]/);

  const removed = tsov('uninstall', '--destdir', destdir, '--prefix', '/opt/tsov', '--containerd-config', containerdConfig);
  t.is(removed.status, 0, removed.stderr);
  t.deepEqual(fs.readdirSync(path.join(destdir, 'opt/tsov/bin')), []);
  t.false(fs.existsSync(path.join(destdir, 'etc/systemd/system/tsov-helper.service')));
  t.false(fs.existsSync(path.join(destdir, 'etc/systemd/system/tsov-helper.socket')));
  t.is(fs.readFileSync(containerdConfig, 'utf8'), original, 'exactly the added table is removed');
  t.is(fs.lstatSync(imageFsLink, { throwIfNoEntry: false }), undefined, 'and the link');
  t.true(fs.existsSync(path.join(destdir, 'etc/tsov/config.yaml')), 'the policy stays without --purge');
  t.is(tsov('uninstall', '--destdir', destdir, '--prefix', '/opt/tsov', '--purge').status, 0);
  t.false(fs.existsSync(path.join(destdir, 'etc/tsov')));
});

test('install without --containerd-config prints the snippet; a foreign file where a link goes is refused', (t) => {
  const destdir = makeTempDir(t, 'install-print');
  const printed = tsov('install', '--destdir', destdir);
  t.is(printed.status, 0, printed.stderr);
  t.regex(printed.stdout, /\[proxy_plugins\.tsov\]\n {2}type = "snapshot"\n {2}address = "\/run\/tsov\/tsov\.sock"/);
  fs.rmSync(path.join(destdir, 'usr/local/bin/tsov-helper'));
  fs.writeFileSync(path.join(destdir, 'usr/local/bin/tsov-helper'), '#!/bin/sh\n');
  const refused = tsov('install', '--destdir', destdir);
  t.is(refused.status, 1);
  t.regex(refused.stderr, /tsov-helper exists and is not a link tsov made; remove it or use another --prefix/);
});

test("deploy/containerd-1.6-1.7.toml is accepted by this node's containerd (1.6)", (t) => {
  const dump = spawnSync('containerd', ['--config', path.join(REPO_ROOT, 'deploy', 'containerd-1.6-1.7.toml'), 'config', 'dump'], { encoding: 'utf8' });
  t.is(dump.status, 0, dump.stderr);
  t.regex(dump.stdout, /snapshotter = "tsov"/);
  t.regex(dump.stdout, /BinaryName = "\/usr\/local\/bin\/tsov-runtime"/);
});
