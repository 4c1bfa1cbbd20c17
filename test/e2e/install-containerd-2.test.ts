/**
 * `tsov install --containerd-config` on containerd 2.1's own default config
 * (`containerd config default`), then containerd 2.1 started with the result:
 * an image imports into tsov and runs on it with no hand edit. Only the
 * system paths (containerd's root, state and sockets; tsov's socket and root)
 * are moved into the test's directory afterwards, as in every test here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import { containerdRelease, pathFor } from '../../harness/containerd-versions';
import { buildImageArchive } from '../../harness/oci-image';
import { startTestContainerd } from '../support/containerd';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';

test('containerd 2.1 · tsov install --containerd-config on the default config: import and ctr run --snapshotter tsov work as written', async (t) => {
  const release = containerdRelease('2.1');
  const dir = makeTempDir(t, 'install-2x');
  const env = { ...process.env, PATH: pathFor(release) };
  const defaults = spawnSync('containerd', ['config', 'default'], { encoding: 'utf8', env });
  t.is(defaults.status, 0, defaults.stderr);
  const configFile = path.join(dir, 'config.toml');
  fs.writeFileSync(configFile, defaults.stdout);

  const installed = spawnSync(process.execPath, [CLI_MAIN, 'install', '--destdir', path.join(dir, 'destdir'), '--prefix', '/opt/tsov', '--containerd-config', configFile], { encoding: 'utf8', env });
  t.is(installed.status, 0, installed.stderr);
  t.regex(installed.stdout, /found {4}containerd 2\.1/);
  // tsov-helper (started by install for it, none runs here) mounted an overlay with idmapped lowers on the root's filesystem.
  t.regex(installed.stdout, /remap-ids listed: idmapped overlay lowers work on ext4 /);
  t.regex(installed.stdout, /merged {3}\[proxy_plugins\.tsov\] and the transfer unpack_config for tsov into /);
  const merged = fs.readFileSync(configFile, 'utf8');
  t.true(merged.startsWith(defaults.stdout), 'the default config is kept as it was, the tables appended');
  t.regex(merged, /\[proxy_plugins\.tsov\]\n {2}type = "snapshot"\n {2}address = "\/run\/tsov\/tsov\.sock"\n {2}capabilities = \["remap-ids"\]\n/);

  const containerdDir = path.join(dir, 'containerd');
  const socket = path.join(dir, 'tsov.sock');
  const moved: Array<[string, string]> = [
    ["root = '/var/lib/containerd'", `root = '${containerdDir}/root'`],
    ["state = '/run/containerd'", `state = '${containerdDir}/state'`],
    ["address = '/run/containerd/containerd.sock'", `address = '${containerdDir}/containerd.sock'`],
    ["socket_path = '/var/run/nri/nri.sock'", `socket_path = '${containerdDir}/nri.sock'`],
    ['address = "/run/tsov/tsov.sock"', `address = "${socket}"`],
    ['root = "/var/lib/tsov"', `root = "${path.join(dir, 'tsov')}"`],
  ];
  let configText = merged;
  for (const [system, local] of moved) {
    t.true(configText.includes(system), `the config names ${system}`);
    configText = configText.replace(system, local);
  }
  await startSnapshotter(t, path.join(dir, 'tsov'), socket);
  const containerd = await startTestContainerd(t, containerdDir, socket, { version: '2.1', configText });
  const plugins = await containerd.ctr(['plugins', 'ls', '--detailed']);
  t.regex(plugins, /ID:\s+tsov[\s\S]*?Capabilities:\s+remap-ids/, 'containerd reads the capability of [proxy_plugins.tsov]');
  const image = 'docker.io/tsov/installed:1';
  await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', buildImageArchive(path.join(dir, 'image'), image, [[{ file: '/etc/installed', content: 'installed by tsov install\n' }]])]);
  const output = await containerd.runCaptured('installed', image, ['/bin/cat', '/etc/installed'], ['--snapshotter', 'tsov']);
  t.is(output, 'installed by tsov install\n');
  t.regex(await containerd.ctr(['images', 'import', '--snapshotter', 'overlayfs', buildImageArchive(path.join(dir, 'image2'), 'docker.io/tsov/plain:1', [])]), /./s, 'overlayfs still unpacks (the default unpack target is kept)');
});
