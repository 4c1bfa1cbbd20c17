/**
 * Every mistake a person can type at tsov, tsov-helper and tsov-snapshotter is
 * one line that names it, with the usage, and exit status 2; a spec or policy
 * that cannot be used is one line and exit status 1. Never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI_MAIN, HELPER_MAIN, SNAPSHOTTER_MAIN } from '../../harness/daemon-process';
import { makeTempDir } from '../support/temp-dir';

function run(main: string, args: string[]) {
  const result = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

const typos: Array<[name: string, main: string, args: string[], expected: RegExp]> = [
  ['tsov translate --bogus', CLI_MAIN, ['translate', '--bogus'], /^tsov: Unknown option '--bogus'; usage: tsov translate --spec config.json/],
  ['tsov translate --spec (no value)', CLI_MAIN, ['translate', '--spec'], /^tsov: Option '--spec <value>' argument missing; usage: tsov translate/],
  ['tsov translate (no --spec)', CLI_MAIN, ['translate'], /^tsov: tsov translate needs --spec FILE; usage: tsov translate/],
  ['tsov unmount 1 --owner (no value)', CLI_MAIN, ['unmount', '1', '--owner'], /^tsov: Option '--owner <value>' argument missing; usage: tsov unmount ID --owner OWNER/],
  ['tsov unmount x', CLI_MAIN, ['unmount', 'x', '--owner', 'o'], /^tsov: tsov unmount needs a mount id/],
  ['tsov -x', CLI_MAIN, ['-x'], /^tsov: Unknown option '-x'; usage: tsov probe\|mounts\|/],
  ['tsov (nothing)', CLI_MAIN, [], /^tsov: no command given; usage: tsov /],
  ['tsov frob', CLI_MAIN, ['frob'], /^tsov: unknown command "frob"; usage: tsov /],
  ['tsov release (no owner)', CLI_MAIN, ['release'], /^tsov: tsov release needs an owner/],
  ['tsov policy', CLI_MAIN, ['policy'], /^tsov: tsov policy needs check FILE; usage: tsov policy check FILE/],
  ['tsov-helper --bogus', HELPER_MAIN, ['--bogus'], /^tsov-helper: Unknown option '--bogus'; usage: tsov-helper --socket PATH/],
  ['tsov-helper --mount-api sideways', HELPER_MAIN, ['--mount-api', 'sideways'], /^tsov-helper: --mount-api must be one of auto, legacy; usage: tsov-helper/],
  ['tsov-helper extra argument', HELPER_MAIN, ['extra'], /^tsov-helper: Unexpected argument 'extra'; usage: tsov-helper/],
  ['tsov-snapshotter --bogus', SNAPSHOTTER_MAIN, ['--bogus'], /^tsov-snapshotter: Unknown option '--bogus'; usage: tsov-snapshotter --root DIR/],
  ['tsov-snapshotter --root (no value)', SNAPSHOTTER_MAIN, ['--root'], /^tsov-snapshotter: Option '--root <value>' argument missing; usage:/],
];

for (const [name, main, args, expected] of typos) {
  test(`${name}: one line with the usage, exit status 2`, (t) => {
    const result = run(main, args);
    t.is(result.status, 2, result.stderr);
    t.regex(result.stderr, expected);
    t.is(result.stderr.split('\n').length, 2, 'one line');
    t.notRegex(result.stderr, /\n\s+at /, 'no stack trace');
  });
}

const badSpecs: Array<[name: string, text: string, expected: RegExp]> = [
  ['mounts as an object', '{"mounts":{"destination":"/x","type":"overlay"}}', /"mounts" must be an array of mounts, not an object/],
  ['mounts as a string', '{"mounts":"overlay"}', /"mounts" must be an array of mounts, not a string/],
  ['a top-level null', 'null', /the spec must be a JSON object, not null/],
  ['nesting deeper than Go reads', `{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`, /nesting deeper than 10000 levels/],
  ['trailing data', '{"mounts":[]} []', /unexpected data after the JSON value/],
  ['not JSON', 'mounts: []', /is not valid JSON: expected a JSON value at/],
];

test('tsov translate with specs it cannot use: one line each, exit status 1, no stack trace', (t) => {
  const dir = makeTempDir(t, 'cli-specs');
  for (const [name, text, expected] of badSpecs) {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, text);
    const result = run(CLI_MAIN, ['translate', '--spec', file, '--dry-run', '--helper-socket', path.join(dir, 'none.sock')]);
    t.is(result.status, 1, `${name}: ${result.stderr}`);
    t.regex(result.stderr, expected, name);
    t.is(result.stderr.split('\n').length, 2, `${name}: one line`);
    t.notRegex(result.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
});

test('a null mount entry (Go reads it as an empty mount) is kept as written beside a translated entry', (t) => {
  const dir = makeTempDir(t, 'cli-null-entry');
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, '{"mounts":[null,{"destination":"/ov","type":"overlay","options":["lowerdir=/srv/only"]}]}');
  const result = spawnSync(process.execPath, [CLI_MAIN, 'translate', '--spec', file, '--dry-run', '--json', '--helper-socket', path.join(dir, 'none.sock')], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^\{"spec":\{"mounts":\[null,\{"destination":"\/ov","type":"bind","source":"\/srv\/only"/);
});

test('the policy refuses allowed_roots: [/], a state_dir with a newline, and a file over 1 MiB, each with where and why', (t) => {
  const dir = makeTempDir(t, 'cli-policy');
  const policy = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policy, 'helper:\n  allowed_roots: [/var/lib/tsov, /]\n  state_dir: "/var/lib/tsov-helper\\nx"\n');
  const result = run(CLI_MAIN, ['policy', 'check', policy]);
  t.is(result.status, 1);
  t.regex(result.stderr, /policy.yaml:2:\d+: helper.allowed_roots\[1\]: expected an absolute directory other than \/ \(a root of \/ lets the helper mount any host directory\)/);
  t.regex(result.stderr, /policy.yaml:3:14: helper.state_dir: expected an absolute path without control characters, got "\/var\/lib\/tsov-helper\\nx"/);
  fs.writeFileSync(policy, `# ${'x'.repeat(14 * 1024 * 1024)}\n`);
  const big = run(CLI_MAIN, ['policy', 'check', policy]);
  t.is(big.status, 1);
  t.regex(big.stderr, /^tsov: policy .*policy.yaml is 14680067 bytes; a policy is at most 1048576 bytes \(1 MiB\)/);
  // Refused by its size before any read: reading a 3 GiB (sparse) file would fail with Node's
  // own error instead (ERR_STRING_TOO_LONG). (A time limit here failed once in a loaded run.)
  fs.truncateSync(policy, 3 * 1024 ** 3);
  const huge = run(CLI_MAIN, ['policy', 'check', policy]);
  t.is(huge.status, 1);
  t.regex(huge.stderr, /^tsov: policy .*policy.yaml is 3221225472 bytes; a policy is at most 1048576 bytes/, 'refused without reading it');
  // A root that is a symlink to /: refused when the helper resolves it.
  fs.symlinkSync('/', path.join(dir, 'slash'));
  const helper = run(HELPER_MAIN, ['--socket', path.join(dir, 'h', 'h.sock'), '--state-dir', path.join(dir, 'state'), '--allowed-root', path.join(dir, 'slash')]);
  t.is(helper.status, 1);
  t.regex(helper.stderr, /allowed root ".*slash" is \/ \(or leads there\): the helper could mount any host directory/);
});
