/** The policy file: defaults, values, and refusals that name FILE:LINE:COLUMN, the field and what was expected. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { policyFromObject, policyFromText } from '../../policy/load-policy';
import { DEFAULT_POLICY } from '../../policy/policy-model';
import { REPO_ROOT } from '../support/paths';

test('config.example.yaml documents exactly the defaults', (t) => {
  t.deepEqual(policyFromText(fs.readFileSync(path.join(REPO_ROOT, 'config.example.yaml'), 'utf8'), 'config.example.yaml'), DEFAULT_POLICY);
});

test('an empty file means the defaults', (t) => {
  t.deepEqual(policyFromText('', 'empty.yaml'), DEFAULT_POLICY);
  t.deepEqual(policyFromObject(null, 'empty.yaml'), DEFAULT_POLICY);
});

test('values are taken from the file; unset keys keep their defaults', (t) => {
  const policy = policyFromText(
    `log:
  level: debug
snapshotter:
  root: /srv/tsov
  remap_ids: off
  disk_stall_seconds: 5
helper:
  allowed_roots: [/srv/a, /srv/b]
  call_timeout_seconds: 90
  disk_stall_seconds: 7
runtime:
  kind: runsc
  binary: /usr/local/bin/runsc
  runsc_version: release-20250611.0
translation:
  default_mode:
    runc: host
  sandbox:
    medium: memory
  quirks:
    metacopy: forbid
  rules:
    - destination: /scratch/**
      runtime: runsc
      annotations: { tier: batch }
      mode: memory
      scratch: true
      quirks: { index: forbid }
      memory_bytes: 8388608
`,
    'f.yaml',
  );
  t.is(policy.logLevel, 'debug');
  t.deepEqual(policy.snapshotter, { root: '/srv/tsov', address: DEFAULT_POLICY.snapshotter.address, remapIds: 'off', diskStallSeconds: 5 });
  t.deepEqual(policy.helper.allowedRoots, ['/srv/a', '/srv/b']);
  t.is(policy.helper.callTimeoutSeconds, 90);
  t.is(policy.helper.diskStallSeconds, 7);
  t.deepEqual(policy.runtime, { kind: 'runsc', binary: '/usr/local/bin/runsc', runscVersion: 'release-20250611.0', runscAllowFlagOverride: false });
  t.deepEqual(policy.translation.defaultModes, { runc: 'host', crun: 'auto', runsc: 'host' });
  t.deepEqual(policy.translation.sandbox, { medium: 'memory', rootfsOverlay: 'none' });
  t.deepEqual(policy.translation.quirks, { metacopy: 'forbid' });
  t.deepEqual(policy.translation.rules, [
    { destination: '/scratch/**', runtime: 'runsc', annotations: { tier: 'batch' }, mode: 'memory', scratch: true, quirks: { index: 'forbid' }, memoryBytes: 8388608 },
  ]);
});

/** [title, file text, expected line:column, expected message] */
const invalid: Array<[string, string, string, RegExp]> = [
  ['an unknown top-level key', 'snapshoter:\n  root: /x\n', '1:1', /snapshoter: unknown key \(expected one of log, snapshotter, helper, runtime, translation\)/],
  ['an unknown nested key', 'snapshotter:\n  rot: /x\n', '2:3', /snapshotter\.rot: unknown key \(expected one of root, address, metrics_address, remap_ids, disk_stall_seconds\)/],
  ['a remap_ids that is neither auto nor off', 'snapshotter:\n  remap_ids: yes\n', '2:14', /snapshotter\.remap_ids: expected one of auto, off, got "yes"/],
  ['a relative root', 'snapshotter:\n  root: var/lib\n', '2:9', /snapshotter\.root: expected an absolute path without control characters, got "var\/lib"/],
  ['a numeric address', 'snapshotter:\n  address: 5\n', '2:12', /snapshotter\.address: expected an absolute path without control characters, got 5/],
  ['a bad log level', 'log:\n  level: loud\n', '2:10', /log\.level: expected one of error, warn, info, debug, got "loud"/],
  ['a list where a mapping belongs', 'log:\n  - info\n', '2:3', /log: expected a mapping, got \["info"\]/],
  ['a scalar document', 'just text\n', '1:1', /top level: expected a mapping, got "just text"/],
  ['a relative allowed root', 'helper:\n  allowed_roots:\n    - /srv\n    - tmp\n', '4:7', /helper\.allowed_roots\[1\]: expected an absolute directory other than \/.*, got "tmp"/],
  ['an empty allowed_roots', 'helper:\n  allowed_roots: []\n', '2:18', /helper\.allowed_roots: expected a non-empty list of absolute paths, got \[\]/],
  ['allowed_roots as a string', 'helper:\n  allowed_roots: /srv\n', '2:18', /helper\.allowed_roots: expected a non-empty list of absolute paths, got "\/srv"/],
  ['a memory size in words', 'helper:\n  memory_bytes: 1G\n', '2:17', /helper\.memory_bytes: expected a whole number of bytes, at least 1048576 \(1 MiB\), got "1G"/],
  ['a memory size too small', 'helper:\n  memory_bytes: 4096\n', '2:17', /at least 1048576/],
  ['a disk stall limit of 0', 'snapshotter:\n  disk_stall_seconds: 0\n', '2:23', /snapshotter\.disk_stall_seconds: expected a whole number of seconds from 1 to 3600, got 0/],
  ['a helper disk stall limit past an hour', 'helper:\n  disk_stall_seconds: 3601\n', '2:23', /helper\.disk_stall_seconds: expected a whole number of seconds from 1 to 3600, got 3601/],
  ['a helper call time limit of 0', 'helper:\n  call_timeout_seconds: 0\n', '2:25', /helper\.call_timeout_seconds: expected a whole number of seconds from 1 to 3600, got 0/],
  ['a helper call time limit over an hour', 'helper:\n  call_timeout_seconds: 3601\n', '2:25', /from 1 to 3600, got 3601/],
  ['a helper call time limit with a unit', 'helper:\n  call_timeout_seconds: 30s\n', '2:25', /from 1 to 3600, got "30s"/],
  ['a fractional memory size', 'translation:\n  memory_bytes: 1048576.5\n', '2:17', /translation\.memory_bytes: expected a whole number/],
  ['an unknown runtime kind', 'runtime:\n  kind: kata\n', '2:9', /runtime\.kind: expected one of runc, crun, runsc, got "kata"/],
  ['a relative runtime binary', 'runtime:\n  binary: runc\n', '2:11', /runtime\.binary: expected an absolute path without control characters, got "runc"/],
  ['a runsc version that is not a release', 'runtime:\n  runsc_version: latest\n', '2:18', /runtime\.runsc_version: expected a runsc release such as release-20250611\.0/],
  ['a yes/no string for a boolean', 'runtime:\n  runsc_allow_flag_override: "yes"\n', '2:30', /runsc_allow_flag_override: expected true or false, got "yes"/],
  ['an unknown default mode', 'translation:\n  default_mode:\n    runc: turbo\n', '3:11', /translation\.default_mode\.runc: expected one of host, fuse, memory, sandbox, auto, got "turbo"/],
  ['a default mode for an unknown runtime', 'translation:\n  default_mode:\n    kata: host\n', '3:5', /translation\.default_mode\.kata: unknown key \(expected one of runc, crun, runsc\)/],
  ['an unknown sandbox medium', 'translation:\n  sandbox:\n    medium: disk\n', '3:13', /translation\.sandbox\.medium: expected one of self, memory, got "disk"/],
  ['an unknown rootfs overlay', 'translation:\n  sandbox:\n    rootfs_overlay: dir\n', '3:21', /rootfs_overlay: expected one of none, self, memory/],
  ['an unknown quirk', 'translation:\n  quirks:\n    speed: force\n', '3:5', /translation\.quirks\.speed: unknown key \(expected one of userxattr, index, redirect_dir, metacopy, xino, volatile\)/],
  ['a quirk set to on', 'translation:\n  quirks:\n    index: "off"\n', '3:12', /translation\.quirks\.index: expected one of force, forbid, got "off"/],
  ['rules as a mapping', 'translation:\n  rules:\n    destination: /x\n', '3:5', /translation\.rules: expected a list of rules/],
  ['an empty rule', 'translation:\n  rules:\n    - {}\n', '3:7', /translation\.rules\[0\]: an empty rule matches everything and sets nothing/],
  ['a relative rule destination', 'translation:\n  rules:\n    - destination: data/**\n      mode: host\n', '3:20', /translation\.rules\[0\]\.destination: expected an absolute destination glob/],
  ['an unknown rule key', 'translation:\n  rules:\n    - mode: host\n      writable: true\n', '4:7', /translation\.rules\[0\]\.writable: unknown key \(expected one of destination, runtime, annotations, mode, scratch, quirks, memory_bytes\)/],
  ['a rule mode that does not exist', 'translation:\n  rules:\n    - mode: hybrid\n', '3:13', /translation\.rules\[0\]\.mode: expected one of host/],
  ['scratch as a string', 'translation:\n  rules:\n    - mode: memory\n      scratch: "true"\n', '4:16', /translation\.rules\[0\]\.scratch: expected true or false, got "true"/],
  ['an annotation value that is not a string', 'translation:\n  rules:\n    - annotations:\n        replicas: 3\n', '4:19', /translation\.rules\[0\]\.annotations\.replicas: expected a string, got 3/],
  ['a rule runtime that does not exist', 'translation:\n  rules:\n    - runtime: gvisor\n', '3:16', /translation\.rules\[0\]\.runtime: expected one of runc, crun, runsc, got "gvisor"/],
  ['a duplicated key', 'log:\n  level: info\n  level: debug\n', '3:3', /not valid YAML: Map keys must be unique/],
  ['broken YAML', 'log:\n  level: [info\n', '3:1', /not valid YAML/],
  ['a tab used for indentation', 'log:\n\tlevel: info\n', '2:1', /not valid YAML/],
  ['an alias without its anchor', 'log:\n  level: *nowhere\n', '2:10', /not valid YAML: Unresolved alias/],
  ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(9)}*a]\nc: &c [${'*b, '.repeat(9)}*b]\nd: [${'*c, '.repeat(9)}*c]\n`, '2:8', /not valid YAML: Excessive alias count/],
];

for (const [title, text, where, message] of invalid) {
  test(`refuses ${title} with file:line:column and what was expected`, (t) => {
    const error = t.throws(() => policyFromText(text, '/etc/tsov/config.yaml'));
    t.regex(error.message, /^\/etc\/tsov\/config\.yaml is not a valid tsov policy:\n {2}/);
    const line = error.message.split('\n')[1]!.trim();
    t.true(line.startsWith(`/etc/tsov/config.yaml:${where}: `), line);
    t.regex(line, message);
  });
}

test('every problem is reported at once', (t) => {
  const error = t.throws(() => policyFromText('log:\n  level: 1\nsnapshotter:\n  root: r\n  x: 1\n', 'p.yaml'));
  const lines = error.message.split('\n').slice(1).map((l) => l.trim());
  t.is(lines.length, 3);
  t.true(lines.some((l) => l.startsWith('p.yaml:2:10: log.level:')));
  t.true(lines.some((l) => l.startsWith('p.yaml:4:9: snapshotter.root:')));
  t.true(lines.some((l) => l.startsWith('p.yaml:5:3: snapshotter.x: unknown key')));
});

test('an object without positions names the fields', (t) => {
  const error = t.throws(() => policyFromObject({ snapshotter: { root: 'r' } }, 'p'));
  t.regex(error.message, /^p is not a valid tsov policy:\n {2}snapshotter\.root: expected an absolute path without control characters, got "r"$/);
});
