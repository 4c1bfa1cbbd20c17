/**
 * tsov-runtime with the real runc (no containerd) and specs an author can
 * write (issue 13): every spec runc accepts runs, numbers exactly as written;
 * a refused create never touches another container's mounts; a failure after
 * mounting takes back exactly what it mounted and leaves the bundle as it
 * was; specs tsov cannot read as runc would are refused with one line; ids
 * runc refuses never reach tsov's state.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mountsUnder } from '../../harness/mounts';
import { overlaySpecFixture } from '../support/overlay-spec-fixture';
import { RLIM_INFINITY, runTsovRuntime, writeBundle, type BundleOptions } from '../support/runtime-bundle';
import type { OciMount } from '../../translator/spec/oci-spec';

async function setUp(t: ExecutionContext) {
  const fixture = await overlaySpecFixture(t);
  const { base, root } = fixture;
  const l1 = path.join(root, 'l1');
  const l2 = path.join(root, 'l2');
  fs.writeFileSync(path.join(l1, 'from-l1'), 'l1\n');
  fs.writeFileSync(path.join(l2, 'from-l2'), 'l2\n');
  const runcRoot = path.join(base, 'runc-root');
  const env = { TSOV_CONFIG: fixture.policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') };
  const overlayEntry = (upper = fixture.upper, work = path.join(root, 'work')): OciMount => ({
    destination: '/ov',
    type: 'overlay',
    source: 'overlay',
    options: [`lowerdir=${l1}:${l2}`, `upperdir=${upper}`, `workdir=${work}`],
  });
  const bundle = (name: string, options: Partial<BundleOptions>) => writeBundle(path.join(base, name), { args: ['true'], mounts: [overlayEntry()], ...options });
  const runtime = (...args: string[]) => runTsovRuntime(env, runcRoot, args);
  const ids: string[] = [];
  t.teardown(() => {
    for (const id of ids) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
  });
  return { ...fixture, l1, l2, runcRoot, env, overlayEntry, bundle, runtime, track: (id: string) => ids.push(id) };
}

/** Every file a bundle holds besides rootfs, with its content. */
function bundleFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).filter((n) => n !== 'rootfs')) files[name] = fs.readFileSync(path.join(dir, name), 'utf8');
  return files;
}

test(`an unlimited rlimit (${RLIM_INFINITY}) is kept exactly: runc starts the container and it sees the overlay`, async (t) => {
  const s = await setUp(t);
  const dir = s.bundle('rlimits', { args: ['sh', '-c', 'ulimit -c; cat /ov/from-l1 /ov/from-l2'] });
  const original = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
  s.track('rl1');
  const run = s.runtime('run', '--bundle', dir, 'rl1');
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout, 'unlimited\nl1\nl2\n', 'RLIMIT_CORE reached the container as RLIM_INFINITY');
  t.deepEqual(mountsUnder(s.root), [], 'runc run deleted the container when it exited, and tsov-runtime released its mounts');
  t.is(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), original, 'and put the original spec back, byte for byte');
});

test('a spec nested 5,000 deep (runc accepts up to 10,000) runs, with its overlay', async (t) => {
  const s = await setUp(t);
  const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  const dir = s.bundle('deep', { args: ['cat', '/ov/from-l2'], edit: (text) => text.replace(/^\{/, `{"org.example.deep":${deep},`) });
  s.track('deep1');
  const run = s.runtime('run', '--bundle', dir, 'deep1');
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout, 'l2\n');
  t.deepEqual(mountsUnder(s.root), []);
});

test('"Type": "overlay" is an overlay entry for runc (Go matches keys case-insensitively), so tsov translates it', async (t) => {
  const s = await setUp(t);
  const dir = s.bundle('case', { args: ['sh', '-c', 'cat /ov/from-l1; grep " /ov " /proc/mounts | cut -d" " -f1'], edit: (text) => text.replace('"type": "overlay"', '"Type": "overlay"') });
  t.true(fs.readFileSync(path.join(dir, 'config.json'), 'utf8').includes('"Type": "overlay"'));
  s.track('case1');
  const run = s.runtime('run', '--bundle', dir, 'case1');
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /^l1\ntsov-m\d+\n$/, 'translated: /ov is the helper\'s overlay (source tsov-m<id>), not one runc mounted itself (source overlay)');
  const translated = s.tsov('translate', '--spec', path.join(dir, 'config.json'), '--runtime', 'runsc', '--dry-run');
  // Whatever runsc's mode decides for it, the entry is seen (before, runsc's translation said there was nothing to do).
  t.regex(translated.stdout + translated.stderr, /mount \d+ \(?\/ov\)?:/, 'tsov translate --runtime runsc sees it too');
  t.notRegex(translated.stdout, /no type: overlay mounts/);
});

test('a second create of a running id is refused and never touches the first container\'s mounts', async (t) => {
  const s = await setUp(t);
  const first = s.bundle('first', { args: ['sleep', '60'] });
  s.track('c1');
  const created = s.runtime('create', '--bundle', first, 'c1');
  t.is(created.status, 0, created.stderr);
  const live = await s.helper.client.list('c1');
  t.is(live.length, 1);
  const before = mountsUnder(s.root);

  const second = s.bundle('second', { args: ['true'] });
  const duplicate = s.runtime('create', '--bundle', second, 'c1');
  t.is(duplicate.status, 1);
  t.regex(duplicate.stderr, /^tsov-runtime: container c1 already exists \(.*runc-root\/c1\); delete it first or choose another id\n$/);
  t.deepEqual(mountsUnder(s.root), before, "c1's overlay is still mounted");
  t.deepEqual((await s.helper.client.list('c1')).map((m) => m.id), live.map((m) => m.id));
  t.deepEqual(bundleFiles(second), { 'config.json': fs.readFileSync(path.join(second, 'config.json'), 'utf8') }, 'the refused bundle is untouched');

  // A third container with c1's upper: the helper still knows it is in use.
  const third = s.bundle('third', { args: ['true'] });
  s.track('c3');
  const stolen = s.runtime('create', '--bundle', third, 'c3');
  t.is(stolen.status, 1);
  t.regex(stolen.stderr, /is already the upperdir of the overlay at/);
  t.is(s.runtime('delete', '--force', 'c1').status, 0);
  t.deepEqual(mountsUnder(s.root), []);
});

test('a failure after mounting (a read-only bundle; runc refusing the spec) unmounts exactly what was mounted and leaves the bundle as it was', async (t) => {
  const s = await setUp(t);
  const readOnly = s.bundle('read-only', { args: ['true'] });
  const files = bundleFiles(readOnly);
  t.is(spawnSync('mount', ['--bind', '-o', 'ro', readOnly, readOnly]).status, 0);
  t.teardown(() => spawnSync('umount', ['-l', readOnly]));
  const erofs = s.runtime('create', '--bundle', readOnly, 'ro1');
  t.is(erofs.status, 1);
  t.regex(erofs.stderr, /^tsov-runtime: .*(EROFS|read-only file system).*\n$/i);
  t.deepEqual(mountsUnder(s.root), [], 'the overlay mounted for ro1 is gone');
  t.deepEqual(await s.helper.client.list(), []);
  spawnSync('umount', [readOnly]);
  t.deepEqual(bundleFiles(readOnly), files, 'no config.json.orig, no temporary file, config.json unchanged');

  // runc refuses the spec after tsov mounted (a relative cwd): the mounts go, the original spec comes back.
  const refused = s.bundle('refused', { args: ['true'], edit: (text) => text.replace('"cwd": "/"', '"cwd": "relative"') });
  const original = bundleFiles(refused);
  s.track('bad1');
  const failed = s.runtime('create', '--bundle', refused, 'bad1');
  t.not(failed.status, 0);
  t.deepEqual(mountsUnder(s.root), []);
  t.deepEqual(await s.helper.client.list(), []);
  t.deepEqual(bundleFiles(refused), original, 'config.json is the original again and config.json.orig is gone');
});

const unreadable: Array<[string, Partial<BundleOptions>, RegExp]> = [
  ['trailing data after the JSON', { edit: (text) => `${text}\n{"mounts":[]}` }, /config.json is not valid JSON: unexpected data after the JSON value at/],
  ['annotations that are not an object', { annotations: 'x' }, /"annotations" must be an object of strings, not a string/],
  ['mounts given twice', { edit: (text) => text.replace(/^\{/, '{"Mounts":[],') }, /2 members are read by Go's encoding\/json as "mounts"/],
  ['a top-level null', { edit: () => 'null' }, /the spec must be a JSON object, not null/],
];
for (const [name, options, message] of unreadable) {
  test(`a spec tsov cannot read as runc would is refused with one line, before anything is mounted: ${name}`, async (t) => {
    const s = await setUp(t);
    const dir = s.bundle(`bad-${name.replace(/\W+/g, '-')}`, options);
    const files = bundleFiles(dir);
    const run = s.runtime('create', '--bundle', dir, 'x1');
    t.is(run.status, 1);
    t.regex(run.stderr, message);
    t.is(run.stderr.split('\n').length, 2, 'one line');
    t.deepEqual(await s.helper.client.list(), []);
    t.deepEqual(bundleFiles(dir), files);
  });
}

test('ids runc refuses never reach tsov state: delete ../layer leaves state_dir/../layer alone; create a/b is refused', async (t) => {
  const s = await setUp(t);
  const stateDir = path.join(s.root, 'mounts');
  const outside = path.join(s.root, 'layer', '0', 'merged');
  fs.mkdirSync(outside, { recursive: true });
  fs.mkdirSync(stateDir, { recursive: true });
  const deleted = s.runtime('delete', '../layer');
  t.not(deleted.status, 0);
  t.regex(deleted.stderr, /invalid|container id/i, "runc's own refusal of the id");
  t.true(fs.existsSync(outside), 'the empty directories outside state_dir are still there');
  const dir = s.bundle('slash', { args: ['true'] });
  const created = s.runtime('create', '--bundle', dir, 'a,b');
  t.is(created.status, 1);
  t.regex(created.stderr, /^tsov-runtime: container id "a,b" is not valid: runc allows letters, digits, '_', '\+', '-' and '\.', and not "\." or "\.\."\n$/);
  t.deepEqual(await s.helper.client.list(), []);
});
