/**
 * `tsov translate` and tsov-runtime outside containerd: the JSON and human
 * outputs, the runsc translation judged by the gVisor oracle, refusals,
 * and the wrapper releasing its mounts and restoring config.json when the real
 * runtime fails.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CLI_MAIN, RUNTIME_MAIN } from '../../harness/daemon-process';
import { mountsUnder } from '../../harness/mounts';
import type { OciSpec } from '../../translator/spec/oci-spec';
import { REPO_ROOT } from '../support/paths';
import { runscOutcome, writableHostLayerBinds } from '../support/gvisor-oracle';
import { makeDirs } from '../support/helper-process';
import { overlaySpecFixture as setUp } from '../support/overlay-spec-fixture';

test('tsov translate --dry-run --json prints exactly one JSON object with spec, actions and report, and mounts nothing', async (t) => {
  const { root, specFile, tsov, helper } = await setUp(t);
  const result = tsov('translate', '--spec', specFile, '--dry-run', '--json', '--id', 'c9');
  t.is(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as { spec: OciSpec; actions: unknown[]; report: Array<{ mode: string; writes: string }> };
  t.deepEqual(Object.keys(parsed), ['spec', 'actions', 'report']);
  t.is(parsed.spec.mounts![1]!.type, 'bind');
  t.is(parsed.actions.length, 1);
  t.is(parsed.report[0]!.mode, 'host');
  t.regex(parsed.report[0]!.writes, /persistent, as with runc/);
  t.is(parsed.spec.annotations!['tsov.dev/mount.1.mode'], 'host');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
});

test('tsov translate for people says where writes go; without --dry-run the helper mounts, tsov release undoes it', async (t) => {
  const { root, specFile, tsov, helper } = await setUp(t);
  const result = tsov('translate', '--spec', specFile, '--id', 'c10');
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^mount 1 \/ov: mode host, kernel$/m);
  t.regex(result.stdout, /^ {2}writes go to: the host directory .*upper \(persistent, as with runc\)$/m);
  t.regex(result.stdout, /^ {2}- auto → host: kernel overlay works on ext4/m);
  t.regex(result.stdout, /mounted for owner c10; `tsov release c10` unmounts/);
  t.is(mountsUnder(root).length, 1);
  t.deepEqual((await helper.client.list()).map((m) => m.owner), ['c10']);
  const released = tsov('release', 'c10');
  t.is(released.status, 0, released.stderr);
  t.deepEqual(mountsUnder(root), []);
});

test('tsov translate --runtime runsc of the #4768 spec with config.example.yaml: host mode, a helper mount planned, writes persistent in upperdir', async (t) => {
  const { specFile, upper } = await setUp(t);
  const example = path.join(REPO_ROOT, 'config.example.yaml');
  const result = spawnSync(process.execPath, [CLI_MAIN, '--config', example, 'translate', '--spec', specFile, '--runtime', 'runsc', '--dry-run', '--json'], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  const { spec, actions, report } = JSON.parse(result.stdout) as { spec: OciSpec; actions: Array<{ request: { backend: string; upper?: string } }>; report: Array<{ mode: string; writes: string }> };
  t.is(report[0]!.mode, 'host');
  t.is(report[0]!.writes, `the host directory ${upper} (persistent, as with runc)`);
  t.like(actions[0]!.request, { backend: 'kernel', upper });
  const outcome = runscOutcome(spec, { release: 'release-20260817.0', allowFlagOverride: false });
  t.false('refused' in outcome, JSON.stringify(outcome));
  t.deepEqual(writableHostLayerBinds(outcome, new Set([upper])), []);
});

test('tsov translate --runtime runsc, sandbox medium memory by a scratch rule: what gVisor accepts', async (t) => {
  const { specFile, tsov, root } = await setUp(t, '  sandbox:\n    medium: memory\n  rules:\n    - destination: /ov\n      mode: sandbox\n      scratch: true\nruntime:\n  runsc_version: release-20250611.0\n');
  const result = tsov('translate', '--spec', specFile, '--runtime', 'runsc', '--dry-run', '--json');
  t.is(result.status, 0, result.stderr);
  const { spec } = JSON.parse(result.stdout) as { spec: OciSpec };
  const outcome = runscOutcome(spec, { release: 'release-20250611.0', allowFlagOverride: false });
  t.false('refused' in outcome, JSON.stringify(outcome));
  t.deepEqual(writableHostLayerBinds(outcome, new Set(['l1', 'l2', 'upper'].map((d) => path.join(root, d)))), []);
  t.is(spec.annotations!['dev.gvisor.flag.overlay2'], 'all:memory,size=268435456');
  t.is(spec.annotations!['tsov.dev/mount.1.mode'], 'sandbox');
  t.regex(result.stderr, /note: dev.gvisor.flag.overlay2=all:memory also overlays the rootfs/);
});

test('a refused entry exits non-zero with the reason on stderr', async (t) => {
  const { specFile, tsov } = await setUp(t, '  rules:\n    - destination: /ov\n      mode: sandbox\n');
  const result = tsov('translate', '--spec', specFile, '--runtime', 'runsc', '--dry-run');
  t.is(result.status, 1);
  t.is(result.stdout, '');
  t.regex(result.stderr, /^tsov: mount 1 \(\/ov\): names upperdir .* mode sandbox would keep them inside the sandbox/);
});

test('tsov policy check prints the effective policy, or the problems with file:line:column', async (t) => {
  const { base, policy, tsov } = await setUp(t);
  const good = tsov('policy', 'check', policy);
  t.is(good.status, 0, good.stderr);
  t.is(JSON.parse(good.stdout).translation.defaultModes.runsc, 'host');
  const badFile = path.join(base, 'bad.yaml');
  fs.writeFileSync(badFile, 'translation:\n  rules:\n    - mode: turbo\n');
  const bad = tsov('policy', 'check', badFile);
  t.is(bad.status, 1);
  t.regex(bad.stderr, new RegExp(`${badFile}:3:13: translation.rules\\[0\\].mode: expected one of host, fuse, memory, sandbox, auto, got "turbo"`));
});

test('tsov-runtime: when the real runtime fails to create, the mounts are released and config.json is restored', async (t) => {
  const { base, root, policy, spec, helper } = await setUp(t);
  const failing = `${fs.readFileSync(policy, 'utf8')}runtime:\n  binary: /bin/false\n`;
  fs.writeFileSync(policy, failing);
  const bundle = makeDirs(path.join(base, 'bundle'))[0]!;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const result = spawnSync(RUNTIME_MAIN, ['--root', path.join(base, 'runc-root'), 'create', '--bundle', bundle, 'fails1'], { encoding: 'utf8', env: { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') } });
  t.is(result.status, 1, 'the real runtime\'s status');
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')), spec, 'config.json is the original again');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(await helper.client.list(), []);
});

test('tsov-runtime passes other commands straight through with their exit status; a helper it cannot reach is one clear line', async (t) => {
  const { base, policy, spec } = await setUp(t);
  const env = { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') };
  const version = spawnSync(RUNTIME_MAIN, ['--version'], { encoding: 'utf8', env });
  t.is(version.status, 0);
  t.regex(version.stdout, /^runc version/);
  const state = spawnSync(RUNTIME_MAIN, ['--root', path.join(base, 'runc-root'), 'state', 'nope'], { encoding: 'utf8', env });
  t.not(state.status, 0);
  t.regex(state.stderr, /container does not exist|not exist/);

  fs.writeFileSync(policy, `${fs.readFileSync(policy, 'utf8').replace(/socket: .*/, `socket: ${path.join(base, 'nowhere.sock')}`)}`);
  const bundle = makeDirs(path.join(base, 'bundle2'))[0]!;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const logFile = path.join(base, 'runc.log');
  const create = spawnSync(RUNTIME_MAIN, ['--log', logFile, '--log-format', 'json', 'create', '--bundle', bundle, 'c2'], { encoding: 'utf8', env });
  t.is(create.status, 1);
  t.regex(create.stderr, /^tsov-runtime: cannot reach tsov-helper at .*nowhere\.sock .*start it \(systemctl start tsov-helper\)/);
  t.is(create.stderr.trim().split('\n').length, 1, 'one line');
  t.regex(JSON.parse(fs.readFileSync(logFile, 'utf8').trim()).msg, /cannot reach tsov-helper/, 'and in runc\'s JSON log for containerd');
});
