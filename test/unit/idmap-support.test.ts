/**
 * The snapshotter's answer to "can idmapped layers be served here"
 * (snapshotter/idmap-support.ts): from the policy and tsov-helper's probe,
 * logged at start, asked again while the helper is unreachable, and a refusal
 * that says why and what to change in containerd's config.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import winston from 'winston';
import { IdmapSupport, type IdmapProbe } from '../../snapshotter/idmap-support';

function capturingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

function support(setting: 'auto' | 'off', probe: IdmapProbe, now = () => 0) {
  const { logger, lines } = capturingLogger();
  return { idmap: new IdmapSupport({ setting, probe, logger, now }), lines };
}

test('auto with a passing probe: enabled, and logged with the reason', async (t) => {
  const { idmap, lines } = support('auto', async () => ({ ok: true, reason: 'idmapped overlay lowers work on ext4' }));
  t.is((await idmap.start()).state, 'enabled');
  await t.notThrowsAsync(idmap.require('k'));
  t.regex(lines.join(''), /get idmapped layers.*idmapped overlay lowers work on ext4/);
});

test('auto with a failing probe: refused with the probe\'s reason and the containerd fix', async (t) => {
  const { idmap, lines } = support('auto', async () => ({ ok: false, reason: 'idmapped overlay lowers do not work on nfs: mount failed' }));
  t.is((await idmap.start()).state, 'disabled');
  await t.throwsAsync(idmap.require('ns/1/c'), { message: /"ns\/1\/c" asks for idmapped layers .*do not work on nfs: mount failed.*remove "remap-ids" there and restart containerd/ });
  t.regex(lines.join(''), /"level":"warn".*not available/);
});

test('off: never asks the helper', async (t) => {
  let asked = 0;
  const { idmap, lines } = support('off', async () => {
    asked++;
    return { ok: true, reason: '' };
  });
  t.is((await idmap.start()).state, 'disabled');
  await t.throwsAsync(idmap.require('k'), { message: /snapshotter\.remap_ids is off in the policy/ });
  t.is(asked, 0);
  t.regex(lines.join(''), /off by policy/);
});

test('an unreachable helper leaves it unknown; a snapshot that needs it asks again after 10 s, not before', async (t) => {
  let now = 0;
  let reachable = false;
  let asked = 0;
  const { idmap } = support(
    'auto',
    async () => {
      asked++;
      if (!reachable) throw new Error('cannot reach tsov-helper at /run/tsov/helper/helper.sock');
      return { ok: true, reason: 'works' };
    },
    () => now,
  );
  t.is((await idmap.start()).state, 'unknown');
  await t.throwsAsync(idmap.require('k'), { message: /cannot reach tsov-helper.*start tsov-helper, or remove "remap-ids"/ });
  t.is(asked, 1, 'not asked again within 10 s');
  reachable = true;
  now = 10_000;
  await t.notThrowsAsync(idmap.require('k'));
  t.is(asked, 2);
  t.is(idmap.state.state, 'enabled');
});

test('concurrent snapshots share one question to the helper', async (t) => {
  let asked = 0;
  const { idmap } = support('auto', async () => {
    asked++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { ok: true, reason: 'works' };
  });
  await Promise.all([idmap.require('a'), idmap.require('b'), idmap.require('c')]);
  t.is(asked, 1);
});

test('a helper that does not answer in time leaves the answer unknown instead of holding snapshots up', async (t) => {
  const { logger, lines } = capturingLogger();
  const idmap = new IdmapSupport({ setting: 'auto', probe: () => new Promise(() => undefined), logger, probeTimeoutMs: 50 });
  const started = Date.now();
  await t.throwsAsync(idmap.require('k'), { message: /tsov-helper did not answer within 50 ms/ });
  t.true(Date.now() - started < 5000);
  t.is(idmap.state.state, 'unknown');
  t.regex(lines.join(''), /unknown until tsov-helper answers/);
});
