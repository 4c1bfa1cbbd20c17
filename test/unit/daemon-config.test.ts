import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DEFAULT_CONFIG, parseDaemonConfig } from '../../policy/daemon-config';
import { REPO_ROOT } from '../support/paths';

test('config.example.yaml parses to the documented defaults', (t) => {
  const document = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'config.example.yaml'), 'utf8'));
  t.deepEqual(parseDaemonConfig(document, 'config.example.yaml'), DEFAULT_CONFIG);
});

test('an empty file means the defaults', (t) => {
  t.deepEqual(parseDaemonConfig(null, 'empty.yaml'), DEFAULT_CONFIG);
});

test('values are taken from the file', (t) => {
  const helper = { socket: '/run/h/h.sock', state_dir: '/srv/h', allowed_roots: ['/srv/a', '/srv/b'], memory_bytes: 1048576 };
  t.deepEqual(parseDaemonConfig({ log: { level: 'debug' }, snapshotter: { root: '/srv/tsov', address: '/run/x.sock' }, helper }, 'f'), {
    logLevel: 'debug',
    snapshotter: { root: '/srv/tsov', address: '/run/x.sock' },
    helper: { socket: '/run/h/h.sock', stateDir: '/srv/h', allowedRoots: ['/srv/a', '/srv/b'], memoryBytes: 1048576 },
  });
});

const invalid: Array<[string, unknown, RegExp[]]> = [
  ['an unknown top-level key', { snapshoter: {} }, [/^ {2}snapshoter: unknown key/m]],
  ['an unknown nested key', { snapshotter: { rot: '/x' } }, [/snapshotter\.rot: unknown key \(expected one of root, address\)/]],
  ['a relative root', { snapshotter: { root: 'var/lib' } }, [/snapshotter\.root: expected an absolute path, got "var\/lib"/]],
  ['a numeric address', { snapshotter: { address: 5 } }, [/snapshotter\.address: expected an absolute path, got 5/]],
  ['a bad log level', { log: { level: 'loud' } }, [/log\.level: expected one of error, warn, info, debug, got "loud"/]],
  ['a list where a mapping belongs', { log: ['info'] }, [/log: expected a mapping/]],
  ['a relative allowed root', { helper: { allowed_roots: ['/srv', 'tmp'] } }, [/helper\.allowed_roots\[1\]: expected an absolute path, got "tmp"/]],
  ['an empty allowed_roots', { helper: { allowed_roots: [] } }, [/helper\.allowed_roots: expected a non-empty list of absolute paths/]],
  ['a memory size in words', { helper: { memory_bytes: '1G' } }, [/helper\.memory_bytes: expected a positive whole number, got "1G"/]],
  ['a scalar document', 'just text', [/top level: expected a mapping/]],
  ['every problem at once', { log: { level: 1 }, snapshotter: { root: 'r', x: 1 } }, [/log\.level/, /snapshotter\.root/, /snapshotter\.x/]],
];

for (const [title, document, messages] of invalid) {
  test(`refuses ${title}, naming the file and the field`, (t) => {
    const error = t.throws(() => parseDaemonConfig(document, '/etc/tsov/config.yaml'));
    t.regex(error.message, /^\/etc\/tsov\/config\.yaml is not a valid tsov policy:/);
    for (const message of messages) t.regex(error.message, message);
  });
}
