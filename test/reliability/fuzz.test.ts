/**
 * Seeded, time-bounded fuzzing (replay with TSOV_SEED=<seed>): more than 5,000
 * generated specs, mount requests and policy files. Nothing crashes; every
 * rejection is one of tsov's errors with a message that names what was wrong;
 * no mount ever appears outside the helper's allowed roots; malformed
 * snapshotter requests get the right status and leave the store intact.
 */
import { status } from '@grpc/grpc-js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { StartupError, TsovError } from '../../common/errors';
import { readMountInfo } from '../../common/mountinfo';
import { isPathWithin } from '../../common/path-within';
import { policyFromText } from '../../policy/load-policy';
import { DEFAULT_RUNTIME, DEFAULT_TRANSLATION_POLICY, type TranslationPolicy } from '../../policy/translation-policy';
import type { OverlayMountRequest } from '../../helper/api/mount-request';
import type { OciMount } from '../../translator/spec/oci-spec';
import { translate } from '../../translator/translate';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { hostileList, hostileOverlayOptions, hostilePath, hostilePolicyText, invalidUtf8 } from '../support/hostile-input';
import { Random, testSeed } from '../support/random';
import { startSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { readMetadataCopy } from '../support/metadata-copy';

const SEED = testSeed(20261124);

test(`translator: 3,000 generated specs never crash it; every refusal names the entry (seed ${SEED})`, (t) => {
  const random = new Random(SEED);
  const bases = ['/srv', '/srv/layers', '/data', 'srv', '/'];
  const policies: TranslationPolicy[] = [
    DEFAULT_TRANSLATION_POLICY,
    { ...DEFAULT_TRANSLATION_POLICY, rules: [{ destination: '/**', scratch: true }], sandbox: { medium: 'memory', rootfsOverlay: 'self' } },
    { ...DEFAULT_TRANSLATION_POLICY, quirks: { metacopy: 'forbid', volatile: 'force' }, defaultModes: { runc: 'fuse', crun: 'memory', runsc: 'host' } },
  ];
  let translated = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const mounts: OciMount[] = hostileList(random, () => ({
      destination: random.chance(0.9) ? hostilePath(random, ['/ov', '/scratch', '/']) : (random.pick([42, null, '']) as unknown as string),
      type: random.chance(0.85) ? 'overlay' : random.pick(['bind', 'tmpfs', 'overlayfs']),
      source: 'overlay',
      options: random.chance(0.97) ? hostileOverlayOptions(random, bases) : (random.pick([null, 'lowerdir=/a', [1, 2]]) as unknown as string[]),
    }));
    const spec = { ociVersion: '1.0.2', mounts, annotations: random.chance(0.2) ? { [invalidUtf8(random)]: 'x' } : {} };
    const runtime = { ...DEFAULT_RUNTIME, kind: random.pick(['runc', 'crun', 'runsc'] as const), runscVersion: random.pick([undefined, 'release-20240101.0', 'release-20250611.0']) };
    try {
      const result = translate(spec, { containerId: `c${i}`, policy: random.pick(policies), runtime, probes: new Map() });
      translated++;
      if ((result.spec.mounts ?? []).some((m) => m.type === 'overlay')) t.fail(`case ${i}: an overlay entry survived translation`);
    } catch (error) {
      refused++;
      if (!(error instanceof TsovError)) {
        t.fail(`case ${i}: ${error instanceof Error ? error.stack : String(error)}\nspec: ${JSON.stringify(spec)}`);
        return;
      }
      for (const line of error.message.split('\n')) {
        if (!/^mount \d+ \(.*\): \S|^.*(source|runsc|dev\.gvisor|rootfs overlay|need a memory upper)/.test(line)) t.fail(`case ${i}: unclear refusal ${JSON.stringify(line)} in ${JSON.stringify(error.message)}`);
      }
    }
  }
  t.log(`seed ${SEED}: ${translated} translated, ${refused} refused`);
  t.true(translated > 0 && refused > 0);
});

test(`policy files: 1,000 generated texts are accepted or refused with file:line:column, never a crash (seed ${SEED})`, (t) => {
  const random = new Random(SEED + 1);
  let refused = 0;
  for (let i = 0; i < 1000; i++) {
    const text = hostilePolicyText(random);
    try {
      policyFromText(text, '/etc/tsov/config.yaml');
    } catch (error) {
      refused++;
      if (!(error instanceof StartupError) || !/^\/etc\/tsov\/config\.yaml is not a valid tsov policy:\n {2}\/etc\/tsov\/config\.yaml:(\d+|\?):(\d+|\?): /.test(error.message)) {
        t.fail(`case ${i}: ${error instanceof Error ? error.stack : String(error)}\ntext: ${JSON.stringify(text)}`);
        return;
      }
    }
  }
  t.log(`seed ${SEED}: ${refused} of 1000 refused`);
  t.true(refused > 500);
});

test(`helper: 1,500 generated mount requests; every refusal is clear and no mount appears outside the allowed roots (seed ${SEED})`, async (t) => {
  const random = new Random(SEED + 2);
  const base = makeTempDir(t, 'fuzz-helper');
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);
  const R = helper.root;
  makeDirs(...['a', 'b', 'l1', 'l2', 'up', 'work', 'merged'].map((d) => path.join(R, d)), path.join(base, 'outside'));
  fs.writeFileSync(path.join(R, 'file'), 'x');
  fs.symlinkSync('/etc', path.join(R, 'link-out'));
  fs.symlinkSync(path.join(base, 'outside'), path.join(R, 'link-dir'));
  const allowed = [R, layout.stateDir];
  const before = new Set(readMountInfo().map((m) => m.mountId));
  const deadline = Date.now() + 120_000;
  let mounted = 0;
  let refused = 0;
  let i = 0;
  for (; i < 1500 && Date.now() < deadline; i++) {
    const bases = [R, `${R}/a`, `${R}/merged`, '/etc', base, `${R}/link-out`, `${R}/link-dir`];
    const request = random.chance(0.25) ? nearlyValidRequest(random, R, i, () => hostilePath(random, bases)) : {
      owner: random.chance(0.9) ? `o${i}` : random.pick(['', '../x', 'a'.repeat(200), invalidUtf8(random)]),
      lowers: hostileList(random, () => hostilePath(random, bases), 501),
      upper: random.chance(0.6) ? hostilePath(random, bases) : undefined,
      work: random.chance(0.6) ? hostilePath(random, bases) : undefined,
      target: hostilePath(random, bases),
      backend: random.pick(['kernel', 'kernel', 'memory', 'fuse', 'auto', 'ramdisk']),
      choices: random.chance(0.5) ? {} : { index: random.pick(['on', 'off', 'off,lowerdir=/etc', undefined]), metacopy: random.pick(['on', undefined]), userxattr: random.chance(0.3) },
    } as OverlayMountRequest;
    try {
      const mount = await helper.client.mount(request);
      mounted++;
      t.true(isPathWithin(mount.target, R), `case ${i}: mounted at ${mount.target}`);
      await helper.client.unmount(mount.id, mount.owner, true);
    } catch (error) {
      refused++;
      const e = error as { code?: number; message: string };
      if (e.code === undefined || e.code === status.INTERNAL || e.code === status.UNKNOWN || !/\S{3}/.test(e.message)) {
        const logged = helper.stderr().split('\n').filter((line) => line.includes('"error"')).slice(-3).join('\n');
        t.fail(`case ${i}: ${e.code} ${e.message}\nrequest: ${JSON.stringify(request).slice(0, 2000)}\nhelper log: ${logged}`);
        return;
      }
    }
    for (const m of readMountInfo()) {
      if (before.has(m.mountId)) continue;
      const inTestDir = isPathWithin(m.mountPoint, base);
      if (inTestDir && !allowed.some((root) => isPathWithin(m.mountPoint, root))) t.fail(`case ${i}: ${m.mountPoint} is below the test directory but outside the allowed roots`);
      // Tests running in parallel mount only below their own /tmp/tsov-* directories.
      const madeByTsov = m.source.startsWith('tsov-') || m.fsType === 'fuse.fuse-overlayfs';
      if (!inTestDir && madeByTsov && !m.mountPoint.startsWith(path.join(os.tmpdir(), 'tsov-'))) t.fail(`case ${i}: tsov mount outside every test directory: ${m.mountPoint}`);
    }
  }
  t.log(`seed ${SEED}: ${i} requests in ${Math.round((120_000 - (deadline - Date.now())) / 1000)} s: ${mounted} mounted (all inside the roots), ${refused} refused`);
  t.true(i >= 1500, 'all requests ran within the time bound');
  t.deepEqual(await helper.client.list(), []);
});

/**
 * A request that would mount (fresh upper and work under the root), with at
 * most one field replaced by a hostile value, so that the fuzz also exercises
 * real mounts next to the refusals.
 */
function nearlyValidRequest(random: Random, root: string, i: number, hostile: () => string): OverlayMountRequest {
  const [upper, work] = makeDirs(path.join(root, `u${i}`), path.join(root, `w${i}`));
  const request: OverlayMountRequest = {
    owner: `o${i}`,
    lowers: random.pick([[`${root}/a`], [`${root}/a`, `${root}/b`], [`${root}/l1`, `${root}/l2`, `${root}/a`]]),
    upper: random.chance(0.7) ? upper : undefined,
    work: undefined,
    target: `${root}/merged`,
    backend: random.pick(['kernel', 'kernel', 'kernel', 'memory', 'fuse']),
    choices: random.pick([{}, { index: 'off' }, { metacopy: 'on', index: 'off' }, { xino: 'auto' }, { redirectDir: 'on', index: 'off' }, { volatile: true }]),
  } as OverlayMountRequest;
  if (request.upper !== undefined) request.work = work;
  switch (random.int(6)) {
    case 0: request.lowers = [...request.lowers, hostile()]; break;
    case 1: request.target = hostile(); break;
    case 2: request.upper = hostile(); request.work = work; break;
    case 3: request.work = hostile(); request.upper = upper; break;
    default: break; // left valid
  }
  return request;
}

test('snapshotter: malformed requests get the right status and never corrupt the store', async (t) => {
  const dir = makeTempDir(t, 'fuzz-snapshotter');
  const snapshotter = await startSnapshotter(t, path.join(dir, 'root'), path.join(dir, 'tsov.sock'));
  const c = snapshotter.client;
  await c.prepare('base-active');
  await c.commit('base', 'base-active');
  const cases: Array<[string, () => Promise<unknown>, status]> = [
    ['an empty key', () => c.prepare(''), status.INVALID_ARGUMENT],
    ['an empty commit name', () => c.commit('', 'base'), status.INVALID_ARGUMENT],
    ['a 1 MiB label value', () => c.prepare('big', '', { big: 'x'.repeat(1024 * 1024) }), status.INVALID_ARGUMENT],
    ['a label pair over 4096 bytes', () => c.prepare('pair', '', { k: 'v'.repeat(4096) }), status.INVALID_ARGUMENT],
    ['an unknown parent', () => c.prepare('orphan', 'no-such-parent'), status.NOT_FOUND],
    ['an active parent', () => c.prepare('child', 'child-of-active-missing'), status.NOT_FOUND],
    ['a duplicate key', () => c.prepare('base'), status.ALREADY_EXISTS],
    ['removing a parent', () => c.remove('base').then(() => c.prepare('x', 'base')), status.NOT_FOUND],
    ['a label update over the limit', () => c.update({ name: 'base-x', labels: { a: 'b'.repeat(5000) } }, ['labels.a']), status.INVALID_ARGUMENT],
    ['stat of nothing', () => c.stat('nothing'), status.NOT_FOUND],
    ['mounts of nothing', () => c.mounts('nothing'), status.NOT_FOUND],
    ['usage of nothing', () => c.usage('nothing'), status.NOT_FOUND],
  ];
  for (const [name, call, expected] of cases) {
    const error = await call().then(
      () => undefined,
      (e: { code: number }) => e,
    );
    t.is(error?.code, expected, name);
  }
  await snapshotter.stop('SIGTERM');
  const names = readMetadataCopy(path.join(dir, 'root', 'metadata.db'), (db) => {
    t.is(db.pragma('integrity_check', { simple: true }), 'ok');
    return (db.prepare('SELECT name FROM snapshots ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
  });
  t.deepEqual(names, [], 'base was removed by the case above; nothing else was created');
});
