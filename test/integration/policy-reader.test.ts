/**
 * The daemons' policy reader (policy/policy-reader.ts), run for real: a
 * node process per read. What it returns and the messages it gives are
 * loadPolicy's, in the daemon's process, for the example policy and for bad,
 * missing and oversized files; no file means the defaults without a reader.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { StartupError } from '../../common/errors';
import { loadPolicy } from '../../policy/load-policy';
import { DEFAULT_POLICY } from '../../policy/policy-model';
import { readPolicy } from '../../policy/policy-reader';
import { readDaemonPolicy } from '../../policy/daemon-start';

const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'config.example.yaml');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsov-policy-reader-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string | Buffer): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, text);
  return target;
}

test('the example policy and one that changes every section: the reader returns what loadPolicy does, sync and async', async (t) => {
  const changed = file(
    'changed.yaml',
    [
      'log: {level: debug}',
      'snapshotter: {root: "/var/lib/tsov x", metrics_address: "unix:/run/m.sock", remap_ids: "off"}',
      'helper: {allowed_roots: ["/a", "/b\\u00e9"], memory_bytes: 1048576}',
      'translation:',
      '  rules:',
      '    - {destination: /data, mode: sandbox, memory_bytes: 2097152}',
      '',
    ].join('\n'),
  );
  for (const policyFile of [EXAMPLE, changed]) {
    const expected = loadPolicy(policyFile);
    t.deepEqual(await readPolicy(policyFile), expected, policyFile);
  }
  t.notDeepEqual(loadPolicy(changed), DEFAULT_POLICY);
});

test('no file: the defaults, at their log level unless --log-level says otherwise', async (t) => {
  t.deepEqual(await readDaemonPolicy({}, 'usage: x'), { config: DEFAULT_POLICY, logLevel: DEFAULT_POLICY.logLevel });
  t.deepEqual(await readDaemonPolicy({ 'log-level': 'debug' }, 'usage: x'), { config: DEFAULT_POLICY, logLevel: 'debug' });
});

test("bad, missing and oversized files: loadPolicy's message, from the reader", async (t) => {
  const cases = [
    file('unknown-key.yaml', 'snapshotter:\n  rooot: /x\nlog:\n  level: verbose\n'),
    file('not-yaml.yaml', 'a: [1, 2\n'),
    file('alias-bomb.yaml', 'a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b, *zz]\n'),
    file('too-big.yaml', Buffer.alloc(1024 * 1024 + 1, 0x20)),
    path.join(dir, 'missing.yaml'),
    file('quote"and\nnewline.yaml', 'log: {level: 3}\n'),
  ];
  for (const policyFile of cases) {
    const expected = t.throws(() => loadPolicy(policyFile), { instanceOf: StartupError }, policyFile)?.message;
    t.truthy(expected);
    t.is((await t.throwsAsync(readPolicy(policyFile), { instanceOf: StartupError }))?.message, expected, policyFile);
  }
});
