/**
 * tsov-runtime.js's shell part: calls tsov has nothing to do in go straight
 * to the real runtime without starting Node, and every call that may need
 * translation or release goes to Node. A run "without Node" has a PATH that
 * holds only grep and sha256sum: had the script wanted Node, it would fail with 127
 * ("node: not found"). The real runtime is a script that records its
 * arguments and exits with a chosen status. The shell's argument scan is held
 * to runtime-args.ts's answers over the same table.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { parseRuntimeArgs } from '../../translator/runtime/runtime-args';
import { makeTempDir } from '../support/temp-dir';

const NO_NODE = 127;

function setUp(t: ExecutionContext) {
  const base = makeTempDir(t, 'fast-path');
  const fake = path.join(base, 'fake-runc');
  const record = path.join(base, 'args');
  fs.writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${record}\nexit "\${FAKE_STATUS:-0}"\n`, { mode: 0o755 });
  const stateDir = path.join(base, 'state');
  fs.mkdirSync(stateDir);
  const policy = path.join(base, 'policy.yaml');
  fs.writeFileSync(policy, `runtime:\n  kind: runc\n  binary: ${fake}\ntranslation:\n  state_dir: ${stateDir}\n`);
  const onlyGrep = path.join(base, 'path');
  fs.mkdirSync(onlyGrep);
  fs.symlinkSync('/usr/bin/grep', path.join(onlyGrep, 'grep'));
  fs.symlinkSync('/usr/bin/sha256sum', path.join(onlyGrep, 'sha256sum'));
  const env = { TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') };
  const bundle = (name: string, config: string) => {
    const dir = path.join(base, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), config);
    return dir;
  };
  /** Runs tsov-runtime; withNode false: a PATH without node. */
  const run = (argv: string[], options: { withNode?: boolean; status?: number } = {}) => {
    fs.rmSync(record, { force: true });
    const result = spawnSync(RUNTIME_MAIN, argv, {
      encoding: 'utf8',
      env: { ...env, PATH: options.withNode === false ? onlyGrep : process.env.PATH, FAKE_STATUS: String(options.status ?? 0) },
    });
    const received = fs.existsSync(record) ? fs.readFileSync(record, 'utf8').split('\n').slice(0, -1) : undefined;
    return { status: result.status, stderr: result.stderr, received };
  };
  return { base, policy, stateDir, bundle, run, cache: path.join(base, 'cache', 'passthrough') };
}

test('the first call goes through Node and writes the pass-through cache; later calls pass straight through with the same arguments and exit status', (t) => {
  const { policy, stateDir, run, cache } = setUp(t);
  t.is(run(['state', 'c1'], { withNode: false }).status, NO_NODE, 'no cache yet: Node is needed');
  const first = run(['--root', '/r', 'state', 'c1']);
  t.is(first.status, 0, first.stderr);
  t.deepEqual(first.received, ['--root', '/r', 'state', 'c1']);
  const digest = crypto.createHash('sha256').update(fs.readFileSync(policy)).digest('hex');
  t.is(fs.readFileSync(cache, 'utf8'), `${policy}\n${digest}\n${path.dirname(policy)}/fake-runc\n${stateDir}\n`);

  const argv = ['--root', '/r', '--log', '/l.json', '--log-format', 'json', 'kill', 'c1', 'KILL'];
  const fast = run(argv, { withNode: false, status: 3 });
  t.is(fast.status, 3, 'the real runtime\'s exit status');
  t.deepEqual(fast.received, argv, 'the same arguments');
  t.deepEqual(run(['with spaces', '', 'ünïcode'], { withNode: false }).received, ['with spaces', '', 'ünïcode']);
});

test('a changed policy is never served from the cache, even when it is replaced by a file with an older modification time (cp -p, rsync -a)', (t) => {
  const { base, policy, run } = setUp(t);
  t.is(run(['state', 'c1']).status, 0);
  t.is(run(['state', 'c1'], { withNode: false }).status, 0);
  const other = path.join(base, 'other-runc');
  fs.writeFileSync(other, `#!/bin/sh\necho other > ${base}/other-ran\n`, { mode: 0o755 });
  const replacement = path.join(base, 'replacement.yaml');
  fs.writeFileSync(replacement, fs.readFileSync(policy, 'utf8').replace(/binary: .*/, `binary: ${other}`));
  const earlier = new Date(Date.now() - 3_600_000);
  fs.utimesSync(replacement, earlier, earlier);
  fs.renameSync(replacement, policy); // what cp -p or a package upgrade leaves: new content, old mtime
  t.is(run(['state', 'c1'], { withNode: false }).status, NO_NODE, 'the content changed: the shell does not trust the cache');
  t.is(run(['state', 'c1']).status, 0, 'Node reads the new policy');
  t.true(fs.existsSync(path.join(base, 'other-ran')), 'and runs the runtime the new policy names');
  t.is(run(['state', 'c1'], { withNode: false }).status, 0, 'the refreshed cache serves the next call');
});

test('create/run go to Node when the spec may have an overlay entry, delete when translation state exists; the shell and runtime-args.ts read the same arguments', (t) => {
  const { bundle, stateDir, run } = setUp(t);
  t.is(run(['state', 'warm-up']).status, 0);
  const plain = bundle('plain', JSON.stringify({ mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }] }));
  const overlay = bundle('overlay', JSON.stringify({ mounts: [{ destination: '/ov', type: 'overlay', source: 'overlay' }] }));
  const escaped = bundle('escaped', '{"mounts":[{"destination":"/ov","type":"\\u006fverlay"}]}');
  fs.mkdirSync(path.join(stateDir, 'mounted'));

  const needsNode = (argv: string[]) => {
    const args = parseRuntimeArgs(argv);
    if (args.containerId === undefined) return false;
    if (args.command === 'create' || args.command === 'run') {
      const config = fs.readFileSync(path.join(args.bundle ?? '.', 'config.json'), 'utf8');
      return config.includes('overlay') || config.includes('\\u');
    }
    const tsovId = /^[A-Za-z0-9_+.-]+$/.test(args.containerId) && !['.', '..'].includes(args.containerId);
    return args.command === 'delete' && tsovId && fs.existsSync(path.join(stateDir, args.containerId));
  };
  const cases: string[][] = [
    ['create', '--bundle', plain, 'c1'],
    ['create', '--bundle', overlay, 'c1'],
    ['create', '--bundle', escaped, 'c1'],
    ['--root', '/r', '--log', '/l', '--log-format', 'json', 'create', '--bundle', overlay, '--pid-file', '/p', 'c1'],
    ['--root=/r', 'create', `--bundle=${overlay}`, 'c1'],
    ['create', '-b', overlay, '--console-socket', '/s', 'c1'],
    ['create', `-b=${plain}`, '--preserve-fds', '2', 'c1'],
    ['run', '--bundle', overlay, '--detach', 'c1'],
    ['create', '--bundle', overlay], // no container id: the real runtime says so
    ['create', '--bundle', plain, '--', 'c1'],
    ['delete', 'mounted'],
    ['delete', '--force', 'mounted'],
    ['--root', '/r', 'delete', '--force', 'unmounted'],
    ['start', 'mounted'],
    ['--version'],
    ['delete', '../state/mounted'], // not an id tsov gives state to: straight to the runtime, never looked up
    ['create', '--bundle', overlay, 'a,b'], // runc 1.1 accepts ',' in ids: Node refuses it before mounting
  ];
  for (const argv of cases) {
    const expected = needsNode(argv);
    const result = run(argv, { withNode: false });
    t.is(result.status === NO_NODE, expected, `${argv.join(' ')}: ${expected ? 'needs Node' : 'passes through'} (${result.stderr.trim()})`);
    if (!expected) t.deepEqual(result.received, argv);
  }
});

test('`features` (containerd 2.x runs it for every runtime handler at each start) passes through to the real runtime and writes no cache', (t) => {
  const base = makeTempDir(t, 'features');
  const policy = path.join(base, 'policy.yaml');
  fs.writeFileSync(policy, `runtime:\n  kind: runc\n  binary: /usr/sbin/runc\ntranslation:\n  state_dir: ${path.join(base, 'state')}\n`);
  const cacheDir = path.join(base, 'cache');
  const direct = spawnSync('/usr/sbin/runc', ['features'], { encoding: 'utf8' });
  t.is(direct.status, 0, direct.stderr);
  for (const argv of [['features'], ['--version']]) {
    const through = spawnSync(RUNTIME_MAIN, argv, { encoding: 'utf8', env: { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: cacheDir } });
    const expected = spawnSync('/usr/sbin/runc', argv, { encoding: 'utf8' });
    t.is(through.status, 0, through.stderr);
    t.is(through.stdout, expected.stdout, `${argv.join(' ')}: runc's own output, byte for byte`);
    t.is(through.stderr, '');
  }
  t.true(JSON.parse(direct.stdout).ociVersionMax !== undefined, 'runc features answers JSON, as containerd reads it');
  t.false(fs.existsSync(cacheDir), 'nothing written below TSOV_RUNTIME_CACHE');
});
