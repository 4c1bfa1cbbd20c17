/** tsov install's text changes: the containerd table between markers, units pointed at a prefix. */
import test from 'ava';
import { addProxyPlugin, BEGIN_MARKER, configVersion, hasTsovProxyPlugin, parseContainerdVersion, proxyPluginBlock, removeProxyPlugin, type BlockOptions } from '../../cli/install/containerd-config';
import { unitForPrefix } from '../../cli/install/install';
import { decideRemapCapability, type RemapIdsChoice } from '../../cli/install/remap-capability';
import fs from 'node:fs';
import path from 'node:path';
import { containerdRootOf, imageFsPath, linkImageFilesystem, unlinkImageFilesystem } from '../../cli/install/image-fs-link';
import { makeTempDir } from '../support/temp-dir';

const original = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause"\n';
const v1: BlockOptions = { socket: '/run/tsov/tsov.sock', root: '/var/lib/tsov', containerdMajor: 1, arch: 'x64' };
const v2: BlockOptions = { ...v1, containerdMajor: 2 };

test('the proxy plugin table is appended between markers and removed exactly', (t) => {
  const added = addProxyPlugin(original, v1);
  if (!added.changed) return t.fail();
  t.true(added.text.startsWith(original));
  t.true(added.text.endsWith(proxyPluginBlock(v1)));
  t.regex(added.text, /\[proxy_plugins\.tsov\]\n {2}type = "snapshot"\n {2}address = "\/run\/tsov\/tsov\.sock"\n {2}\[proxy_plugins\.tsov\.exports\]\n {4}root = "\/var\/lib\/tsov"/);
  t.notRegex(added.text, /unpack_config/, 'containerd 1.x unpacks without the transfer service');
  const removed = removeProxyPlugin(added.text);
  if (!removed.changed) return t.fail();
  t.is(removed.text, original);
});

test('a file without a final newline, and an empty file, stay valid', (t) => {
  const noNewline = addProxyPlugin('version = 2', v1);
  t.true(noNewline.changed && noNewline.text.startsWith(`version = 2\n\n${BEGIN_MARKER}`));
  const empty = addProxyPlugin('', v1);
  t.true(empty.changed && empty.text === `version = 2\n\n${proxyPluginBlock(v1)}`, 'an empty file gets the config version first');
  const empty2 = addProxyPlugin('', v2);
  t.true(empty2.changed && empty2.text.startsWith('version = 3\n\n'));
});

test('an existing tsov table (hand-written, any quoting) is left alone; no markers means nothing to remove', (t) => {
  for (const header of ['[proxy_plugins.tsov]', '[proxy_plugins."tsov"]', "[ proxy_plugins . 'tsov' ]"]) {
    const text = `version = 2\n${header}\n  type = "snapshot"\n`;
    t.true(hasTsovProxyPlugin(text), header);
    t.like(addProxyPlugin(text, v1), { changed: false });
  }
  t.like(removeProxyPlugin(original), { changed: false, reason: 'no block added by tsov install' });
});

test('units point at the chosen prefix', (t) => {
  t.is(unitForPrefix('ExecStart=/usr/local/bin/tsov-helper --config /etc/tsov/config.yaml\n', '/opt/tsov/'), 'ExecStart=/opt/tsov/bin/tsov-helper --config /etc/tsov/config.yaml\n');
});

test('containerd 2.x also gets the transfer service\'s unpack targets: overlayfs kept, tsov added, for this platform', (t) => {
  const block = proxyPluginBlock(v2);
  const targets = [...block.matchAll(/\[\[plugins\.'io\.containerd\.transfer\.v1\.local'\.unpack_config\]\]\n {2}platform = "([^"]+)"\n {2}snapshotter = "([^"]+)"/g)].map((m) => [m[1], m[2]]);
  t.deepEqual(targets, [['linux/amd64', 'overlayfs'], ['linux/amd64', 'tsov']]);
  t.regex(proxyPluginBlock({ ...v2, arch: 'arm64' }), /platform = "linux\/arm64"/);
  const added = addProxyPlugin("version = 3\n\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n", v2);
  if (!added.changed) return t.fail();
  t.is(removeProxyPlugin(added.text).changed && (removeProxyPlugin(added.text) as { text: string }).text, "version = 3\n\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n");
});

test('a file of the other config version is refused with the way out; versions are read as containerd prints them', (t) => {
  t.like(addProxyPlugin(original, v2), { changed: false });
  const refused = addProxyPlugin(original, v2);
  t.regex(refused.changed ? '' : refused.reason, /declares version = 2 but containerd 2\.x reads version = 3; migrate it first \(containerd config migrate\)/);
  t.like(addProxyPlugin('version = 3\n', v1), { changed: false });
  const cases: Array<[string, { major: number; minor: number } | undefined]> = [
    ['containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1\n', { major: 1, minor: 6 }],
    ['containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1\n', { major: 1, minor: 7 }],
    ['containerd github.com/containerd/containerd/v2 2.1.9+unknown \n', { major: 2, minor: 1 }],
    ['containerd containerd.io v2.2.0 abc123\n', { major: 2, minor: 2 }],
    ['something else\n', undefined],
  ];
  for (const [output, expected] of cases) t.deepEqual(parseContainerdVersion(output), expected, output);
  t.is(configVersion('# c\nversion = 3\n'), 3);
  t.is(configVersion('root = "/x"\n'), undefined);
});

test('containerd 1.6\'s image filesystem path: the config\'s top-level root (or the default), linked to tsov\'s root once', (t) => {
  const cases: Array<[string, string]> = [
    ['', '/var/lib/containerd'],
    ['version = 2\nroot = "/srv/containerd"\n', '/srv/containerd'],
    ["version = 2\nroot = '/srv/c' # comment\n", '/srv/c'],
    ['version = 2\n[plugins.x]\n  root = "/not/top/level"\n', '/var/lib/containerd'],
  ];
  for (const [text, root] of cases) t.is(containerdRootOf(text), root, text);
  t.is(imageFsPath('/var/lib/containerd'), '/var/lib/containerd/io.containerd.snapshotter.v1.tsov');
  const dir = makeTempDir(t, 'image-fs-link');
  const link = path.join(dir, 'containerd', 'io.containerd.snapshotter.v1.tsov');
  t.is(linkImageFilesystem(link, '/var/lib/tsov'), 'linked');
  t.is(linkImageFilesystem(link, '/var/lib/tsov'), 'kept');
  t.false(unlinkImageFilesystem(link, '/elsewhere'), 'a link to elsewhere is not tsov\'s');
  t.true(unlinkImageFilesystem(link, '/var/lib/tsov'));
  fs.mkdirSync(link);
  t.throws(() => linkImageFilesystem(link, '/var/lib/tsov'), { message: /exists and is not a link to \/var\/lib\/tsov/ });
  t.false(unlinkImageFilesystem(link, '/var/lib/tsov'));
});

test('remap-ids: listed on containerd 2.x where the probe passes (or --remap-ids on), never on 1.x, with the reason either way', (t) => {
  const works = { ok: true, reason: 'idmapped overlay lowers work on ext4 (/var/lib/tsov), kernel 6.18' };
  const fails = { ok: false, reason: 'idmapped overlay lowers do not work on nfs (/var/lib/tsov), kernel 6.1: mount failed' };
  const cases: Array<[number, RemapIdsChoice, { ok: boolean; reason: string } | undefined, string[], RegExp]> = [
    [2, 'auto', works, ['remap-ids'], /^remap-ids listed: idmapped overlay lowers work on ext4/],
    [2, 'auto', fails, [], /^remap-ids not listed: idmapped overlay lowers do not work on nfs .*chowned copy/],
    [2, 'on', undefined, ['remap-ids'], /not probed/],
    [2, 'off', works, [], /--remap-ids off/],
    [1, 'auto', works, [], /containerd 1\.x cannot mount idmapped layers/],
    [1, 'on', undefined, [], /containerd 1\.x cannot mount idmapped layers/],
  ];
  for (const [major, choice, probe, capabilities, line] of cases) {
    const decision = decideRemapCapability(major, choice, probe);
    t.deepEqual(decision.capabilities, capabilities, `${major} ${choice}`);
    t.regex(decision.line, line);
  }
  t.throws(() => decideRemapCapability(2, 'auto'), { message: /auto needs the probe/ });
});

test('capabilities go in [proxy_plugins.tsov] before its exports subtable (TOML keys precede subtables)', (t) => {
  t.regex(proxyPluginBlock({ ...v2, capabilities: ['remap-ids'] }), /address = "\/run\/tsov\/tsov\.sock"\n {2}capabilities = \["remap-ids"\]\n {2}\[proxy_plugins\.tsov\.exports\]/);
  t.notRegex(proxyPluginBlock(v2), /capabilities/);
});
