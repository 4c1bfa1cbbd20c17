/** Table tests of the pure translator: modes × runtimes, entry forms, contracts, runsc versions, malformed input. */
import test from 'ava';
import { DEFAULT_RUNTIME, DEFAULT_TRANSLATION_POLICY, type RuntimeSettings, type TranslationPolicy } from '../../policy/translation-policy';
import type { ProbeReport } from '../../helper/api/probe-report';
import type { OciMount, OciSpec } from '../../translator/spec/oci-spec';
import { directoriesToProbe, translate, type Translation, type TranslationContext } from '../../translator/translate';
import { runscOutcome, writableHostLayerBinds } from '../support/gvisor-oracle';

const check = (name: string, ok: boolean) => ({ name, ok, detail: ok ? 'mounted' : 'mount failed: overlayfs: no', kernelLog: [] });
function probe(directory: string, works: { kernel?: boolean; fuse?: boolean; failing?: string[] } = {}): ProbeReport {
  const names = ['mount:overlay', 'mount:userxattr', 'mount:index=off', 'mount:index=on', 'mount:redirect_dir=on', 'mount:metacopy=on', 'mount:xino=on', 'mount:volatile'];
  return {
    directory,
    device: 1,
    filesystem: 'ext4',
    filesystemMagic: 0xef53,
    kernelRelease: '6.1.0',
    moduleParameters: { index: 'N' },
    upperChecks: [],
    mountChecks: names.map((n) => check(n, n === 'mount:overlay' ? works.kernel !== false : !(works.failing ?? []).includes(n))),
    fuseOverlayfs: check('fuse-overlayfs', works.fuse !== false),
    probedAtMs: 0,
    cached: false,
  };
}

const runc: RuntimeSettings = DEFAULT_RUNTIME;
const runsc = (version: string | undefined = 'release-20250611.0', allowFlagOverride = false): RuntimeSettings => ({ kind: 'runsc', binary: '/usr/bin/runsc', runscVersion: version, runscAllowFlagOverride: allowFlagOverride });
const policy = (change: Partial<TranslationPolicy> = {}): TranslationPolicy => ({ ...DEFAULT_TRANSLATION_POLICY, stateDir: '/run/tsov/mounts', ...change });
const overlay = (options: string[], destination = '/ov'): OciMount => ({ destination, type: 'overlay', source: 'overlay', options });
const spec = (...mounts: OciMount[]): OciSpec => ({ ociVersion: '1.0.2', mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, ...mounts], annotations: { keep: 'me' } });
const ctx = (change: Partial<TranslationContext> = {}): TranslationContext => ({
  containerId: 'c1',
  policy: policy(),
  runtime: runc,
  probes: new Map([['/srv/u', probe('/srv/u')]]),
  ...change,
});
const LOWERS_UPPER = ['lowerdir=/srv/a:/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'];

function only(translation: Translation) {
  t_assert(translation.report.length === 1);
  return { mount: translation.spec.mounts![1]!, action: translation.actions[0], report: translation.report[0]!, annotations: translation.spec.annotations! };
}
function t_assert(condition: boolean): void {
  if (!condition) throw new Error('expected exactly one translated entry');
}

test('host mode on runc: the #4768 entry becomes an rbind of the helper-mounted merged directory; writes persist in upperdir', (t) => {
  const { mount, action, report, annotations } = only(translate(spec(overlay(LOWERS_UPPER)), ctx({ policy: policy({ defaultModes: { runc: 'host', crun: 'host', runsc: 'sandbox' } }) })));
  t.deepEqual(mount, { destination: '/ov', type: 'bind', source: '/run/tsov/mounts/c1/1/merged', options: ['rbind', 'rw'] });
  t.deepEqual(action!.request, {
    owner: 'c1',
    lowers: ['/srv/a', '/srv/b'],
    upper: '/srv/u',
    work: '/srv/w',
    target: '/run/tsov/mounts/c1/1/merged',
    backend: 'kernel',
    choices: { index: 'off' },
  });
  t.is(report.writes, 'the host directory /srv/u (persistent, as with runc)');
  t.is(annotations['tsov.dev/mount.1.mode'], 'host');
  t.is(annotations['tsov.dev/mount.1.lowers'], '/srv/a:/srv/b');
  t.is(annotations['tsov.dev/mount.1.upper'], '/srv/u');
  t.is(annotations['tsov.dev/mount.1.writes'], report.writes);
  t.is(annotations.keep, 'me');
  t.regex(report.reasons.join('\n'), /index off: as containerd does/);
});

const forms: Array<[string, string[], string[]]> = [
  ['one lowerdir with ":"', ['lowerdir=/srv/a:/srv/b:/srv/c', 'upperdir=/srv/u', 'workdir=/srv/w'], ['/srv/a', '/srv/b', '/srv/c']],
  ['the form ctr run --mount produces (split on ":")', ['lowerdir=/srv/a', '/srv/b', '/srv/c', 'upperdir=/srv/u', 'workdir=/srv/w'], ['/srv/a', '/srv/b', '/srv/c']],
  ['several lowerdir= options, in order', ['lowerdir=/srv/a', 'upperdir=/srv/u', 'lowerdir=/srv/b:/srv/c', 'workdir=/srv/w'], ['/srv/a', '/srv/b', '/srv/c']],
  ['lowerdir+= per layer', ['lowerdir+=/srv/a', 'lowerdir+=/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'], ['/srv/a', '/srv/b']],
  ['trailing and doubled "/" (the kernel, and so runc, accept them)', ['lowerdir=/srv/a/:/srv//b//', 'upperdir=/srv/u/', 'workdir=/srv//w/'], ['/srv/a', '/srv/b']],
];
for (const [name, options, lowers] of forms) {
  test(`entry form: ${name}`, (t) => {
    const request = only(translate(spec(overlay(options)), ctx())).action!.request;
    t.deepEqual(request.lowers, lowers);
    t.deepEqual([request.upper, request.work], ['/srv/u', '/srv/w']);
  });
}

test('auto: host when the probe says the kernel overlay works, fuse when only fuse-overlayfs does, refused when neither', (t) => {
  t.is(only(translate(spec(overlay(LOWERS_UPPER)), ctx())).report.mode, 'host');
  const fuse = only(translate(spec(overlay(LOWERS_UPPER)), ctx({ probes: new Map([['/srv/u', probe('/srv/u', { kernel: false })]]) })));
  t.is(fuse.report.mode, 'fuse');
  t.is(fuse.action!.request.backend, 'fuse');
  t.deepEqual(fuse.action!.request.choices, {});
  t.regex(fuse.report.reasons.join('\n'), /auto → fuse: kernel overlay on ext4 failed/);
  t.throws(() => translate(spec(overlay(LOWERS_UPPER)), ctx({ probes: new Map([['/srv/u', probe('/srv/u', { kernel: false, fuse: false })]]) })), {
    message: /mount 1 \(\/ov\): mode auto found nothing that works/,
  });
});

test('read-only entries: two lowers are merged on the host, one lower is bound directly (no mount at all)', (t) => {
  const two = only(translate(spec(overlay(['lowerdir=/srv/a:/srv/b'])), ctx()));
  t.deepEqual(two.mount.options, ['rbind', 'ro']);
  t.deepEqual(two.action!.request.lowers, ['/srv/a', '/srv/b']);
  t.is(two.action!.request.upper, undefined);
  const one = translate(spec(overlay(['lowerdir=/srv/a'])), ctx());
  t.deepEqual(one.actions, []);
  t.deepEqual(one.spec.mounts![1], { destination: '/ov', type: 'bind', source: '/srv/a', options: ['rbind', 'ro'] });
});

test('mount flags are kept on the bind; ro stays ro', (t) => {
  const { mount } = only(translate(spec(overlay([...LOWERS_UPPER, 'nosuid', 'nodev', 'ro'])), ctx()));
  t.deepEqual(mount.options, ['rbind', 'ro', 'nosuid', 'nodev']);
});

test('memory mode: only for entries the policy marks scratch; upperdir is then unused', (t) => {
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.mode=memory'])), ctx()), {
    message: /names upperdir \/srv\/u, which promises that writes persist there .* mode memory would keep them in memory .* mark the entry scratch/,
  });
  const scratch = policy({ rules: [{ destination: '/scratch/**', scratch: true, mode: 'memory', memoryBytes: 8388608 }] });
  const { action, report } = only(translate(spec(overlay(LOWERS_UPPER, '/scratch/tmp')), ctx({ policy: scratch })));
  t.like(action!.request, { backend: 'memory', memoryBytes: 8388608, upper: undefined, work: undefined });
  t.is(report.writes, 'memory (a tmpfs of 8388608 bytes); lost when the container is deleted');
  t.regex(report.reasons.join('\n'), /policy rule 1 matches[\s\S]*upperdir \/srv\/u is not used/);
  const memoryNoUpper = only(translate(spec(overlay(['lowerdir=/srv/a', 'x-tsov.mode=memory'])), ctx()));
  t.is(memoryNoUpper.action!.request.backend, 'memory');
});

test('fuse mode takes no kernel overlay options', (t) => {
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.mode=fuse', 'index=off'])), ctx()), { message: /fuse-overlayfs takes no kernel overlay options, but index is set/ });
  t.is(only(translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.mode=fuse'])), ctx())).action!.request.backend, 'fuse');
});

test('quirks: entry options and x-tsov.quirks are forced when the probe says they work; policy and entry must agree', (t) => {
  const chosen = only(translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.quirks=+volatile,+redirect_dir', 'metacopy=on'])), ctx())).action!.request.choices;
  t.deepEqual(chosen, { index: 'off', redirectDir: 'on', metacopy: 'on', volatile: true });
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'metacopy=on'])), ctx({ probes: new Map([['/srv/u', probe('/srv/u', { failing: ['mount:metacopy=on'] })]]) })), {
    message: /metacopy is forced \(asked by the entry\) but the probe of \/srv\/u \(ext4\) says it does not work: mount failed/,
  });
  const forbids = policy({ quirks: { metacopy: 'forbid' } });
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'metacopy=on'])), ctx({ policy: forbids })), { message: /the entry asks to force metacopy but the policy says forbid/ });
  t.is(only(translate(spec(overlay(LOWERS_UPPER)), ctx({ policy: forbids }))).action!.request.choices.metacopy, 'off');
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'userxattr', 'metacopy=on'])), ctx()), { message: /metacopy=on conflicts with userxattr/ });
});

test('policy rules: first match by destination glob, runtime and annotations; x-tsov.mode overrides the rule', (t) => {
  const rules = policy({
    rules: [
      { destination: '/data/*', annotations: { tier: 'gold' }, mode: 'fuse' },
      { destination: '/data/**', mode: 'host' },
    ],
  });
  const gold: OciSpec = { ...spec(overlay(LOWERS_UPPER, '/data/x')), annotations: { tier: 'gold' } };
  t.is(only(translate(gold, ctx({ policy: rules }))).report.mode, 'fuse');
  t.is(only(translate(spec(overlay(LOWERS_UPPER, '/data/x')), ctx({ policy: rules }))).report.mode, 'host');
  t.is(only(translate(spec(overlay(LOWERS_UPPER, '/data/x/y')), ctx({ policy: rules }))).report.mode, 'host', '* does not cross /');
  t.is(only(translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.mode=fuse'], '/data/x/y')), ctx({ policy: rules }))).report.mode, 'fuse');
});

test('sandbox mode needs runsc', (t) => {
  t.throws(() => translate(spec(overlay(['lowerdir=/srv/a', 'x-tsov.mode=sandbox'])), ctx()), { message: /mode sandbox needs runsc \(the runtime is runc\)/ });
});

/** What gVisor's code would refuse, or a writable un-overlaid bind of a host layer (test/support/gvisor-oracle.ts). */
function oracleProblems(translated: OciSpec, release: string, allowFlagOverride: boolean, hostLayers: string[]): string[] {
  const outcome = runscOutcome(translated, { release, allowFlagOverride });
  if ('refused' in outcome) return [`runsc refuses it: ${outcome.refused}`];
  return writableHostLayerBinds(outcome, new Set(hostLayers));
}

const scratchEverything = (medium: 'self' | 'memory', rootfsOverlay: 'none' | 'self' | 'memory' = 'none') =>
  policy({ rules: [{ destination: '/**', scratch: true, mode: 'sandbox' }], sandbox: { medium, rootfsOverlay } });

test('runsc, medium self: one lower becomes a bind with a per-mount hint, never ro; valid gVisor grammar', (t) => {
  const runtime = runsc();
  const translation = translate(spec(overlay(['lowerdir=/srv/a', 'upperdir=/srv/u', 'workdir=/srv/w'])), ctx({ runtime, policy: scratchEverything('self') }));
  const { mount, annotations, report } = only(translation);
  t.deepEqual(mount, { destination: '/ov', type: 'bind', source: '/srv/a', options: ['rbind', 'rw'] });
  t.is(annotations['dev.gvisor.spec.mount.tsov-1.source'], '/srv/a');
  t.is(annotations['dev.gvisor.spec.mount.tsov-1.type'], 'bind');
  t.is(annotations['dev.gvisor.spec.mount.tsov-1.share'], 'container');
  t.false('dev.gvisor.flag.overlay2' in annotations);
  t.deepEqual(translation.actions, []);
  t.regex(report.writes, /inside the sandbox: a hidden filestore file in \/srv\/a/);
  t.deepEqual(oracleProblems(translation.spec, runtime.runscVersion!, false, ['/srv/a', '/srv/u']), []);
});

test('runsc, medium self with several lowers is refused with the reason', (t) => {
  t.throws(() => translate(spec(overlay(LOWERS_UPPER)), ctx({ runtime: runsc(), policy: scratchEverything('self') })), {
    message: /sandbox medium self keeps the upper in a file inside the bind's source, but 2 lowers can only be merged read-only/,
  });
});

const versions: Array<[string, string | undefined, boolean, string | RegExp]> = [
  ['a release with size=', 'release-20250611.0', false, 'all:memory,size=268435456'],
  ['a release between 20250106 and 20250611 (no size=)', 'release-20250301.0', false, 'all:memory'],
  ['an old release with --allow-flag-override', 'release-20241001.0', true, 'all:memory'],
  ['an old release without --allow-flag-override', 'release-20241001.0', false, /release-20241001.0 fails to create the container with dev.gvisor.flag.overlay2 unless runsc runs with --allow-flag-override/],
  ['an unknown version', undefined, false, /an unknown runsc version fails to create the container with dev.gvisor.flag.overlay2/],
];
for (const [name, version, override, expected] of versions) {
  test(`runsc, medium memory, ${name}`, (t) => {
    const runtime = version === undefined ? { ...runsc(), runscVersion: undefined } : runsc(version, override);
    const run = () => translate(spec(overlay(LOWERS_UPPER)), ctx({ runtime, policy: scratchEverything('memory') }));
    if (expected instanceof RegExp) {
      t.throws(run, { message: expected });
      return;
    }
    const translation = run();
    const { mount, action, annotations } = only(translation);
    t.is(annotations['dev.gvisor.flag.overlay2'], expected);
    t.deepEqual(mount.options, ['rbind', 'rw'], 'an overlaid entry is never ro');
    t.like(action!.request, { backend: 'kernel', upper: undefined, lowers: ['/srv/a', '/srv/b'] }, 'two lowers merged read-only on the host');
    t.regex(translation.notes.join('\n'), /also overlays the rootfs and every other writable bind mount/);
    t.deepEqual(oracleProblems(translation.spec, version!, override, ['/srv/a', '/srv/b', '/srv/u']), []);
  });
}

test('runsc: a read-only entry gets no sandbox overlay; the rootfs overlay is set only when the policy asks', (t) => {
  const runtime = runsc();
  const readOnly = translate(spec(overlay(['lowerdir=/srv/a:/srv/b'])), ctx({ runtime, policy: scratchEverything('memory') }));
  t.deepEqual(readOnly.spec.mounts![1]!.options, ['rbind', 'ro']);
  t.false('dev.gvisor.flag.overlay2' in readOnly.spec.annotations!);
  const rootfs = translate(spec(overlay(['lowerdir=/srv/a:/srv/b'])), ctx({ runtime, policy: scratchEverything('memory', 'self') }));
  t.is(rootfs.spec.annotations!['dev.gvisor.flag.overlay2'], 'root:self');
  t.deepEqual(oracleProblems(rootfs.spec, runtime.runscVersion!, false, ['/srv/a', '/srv/b']), []);
  t.throws(() => translate(spec(overlay(LOWERS_UPPER)), ctx({ runtime, policy: scratchEverything('memory', 'self') })), { message: /also puts the rootfs overlay in memory, but the policy asks for a self-backed rootfs overlay/ });
});

test('runsc: an upperdir entry gets host mode by default (#4768); sandbox mode for it needs a scratch rule (the persistence contract)', (t) => {
  const host = only(translate(spec(overlay(LOWERS_UPPER)), ctx({ runtime: runsc() })));
  t.is(host.report.mode, 'host', "the policy's default for runsc: the gofer serves the helper's merged directory");
  t.is(host.report.writes, 'the host directory /srv/u (persistent, as with runc)');
  t.like(host.action!.request, { backend: 'kernel', upper: '/srv/u', work: '/srv/w' });
  t.throws(() => translate(spec(overlay([...LOWERS_UPPER, 'x-tsov.mode=sandbox'])), ctx({ runtime: runsc() })), { message: /names upperdir \/srv\/u, which promises that writes persist there .* mode sandbox would keep them inside the sandbox/ });
});

test('two self-backed entries with one source are refused (runsc treats that as fatal)', (t) => {
  const s = spec(overlay(['lowerdir=/srv/a', 'upperdir=/srv/u', 'workdir=/srv/w'], '/x'), overlay(['lowerdir=/srv/a', 'upperdir=/srv/u2', 'workdir=/srv/w2'], '/y'));
  t.throws(() => translate(s, ctx({ runtime: runsc(), policy: scratchEverything('self') })), { message: /have the same source \/srv\/a/ });
});

const malformed: Array<[string, string[], RegExp]> = [
  ['an option tsov does not know', [...LOWERS_UPPER, 'uuid=on'], /option "uuid=on" is not supported by tsov/],
  ['an empty layer', ['lowerdir=/srv/a::/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'], /has an empty layer/],
  ['a trailing colon', ['lowerdir=/srv/a:', 'upperdir=/srv/u', 'workdir=/srv/w'], /has an empty layer/],
  ['upperdir twice', [...LOWERS_UPPER, 'upperdir=/srv/v'], /upperdir= is given twice/],
  ['no lowerdir', ['upperdir=/srv/u', 'workdir=/srv/w'], /no lowerdir/],
  ['lowerdir= mixed with lowerdir+=', ['lowerdir=/srv/a', 'lowerdir+=/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'], /mixes lowerdir= and lowerdir\+=/],
  ['an unknown mode', [...LOWERS_UPPER, 'x-tsov.mode=turbo'], /x-tsov.mode=turbo is not a mode/],
  ['an unknown quirk', [...LOWERS_UPPER, 'x-tsov.quirks=+speed'], /unknown quirk "speed"/],
  ['a quirk without + or -', [...LOWERS_UPPER, 'x-tsov.quirks=volatile'], /must be \+NAME, -NAME/],
  ['a relative lower', ['lowerdir=srv/a:/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'], /lowers\[0\]: "srv\/a" is relative/],
  ['a comma smuggled into a path', ['lowerdir=/srv/a', 'upperdir=/srv/u,lowerdir=/etc', 'workdir=/srv/w'], /upper: .* contains ','/],
  ['.. in a path', ['lowerdir=/srv/../etc:/srv/b', 'upperdir=/srv/u', 'workdir=/srv/w'], /not normalised/],
  ['upperdir without workdir', ['lowerdir=/srv/a', 'upperdir=/srv/u'], /upperdir without workdir/],
  ['redirect_dir=follow', [...LOWERS_UPPER, 'redirect_dir=follow'], /"redirect_dir=follow" is not supported/],
];
for (const [name, options, expected] of malformed) {
  test(`malformed entry refused: ${name}`, (t) => {
    t.throws(() => translate(spec(overlay(options)), ctx()), { message: expected });
  });
}

test('every refused entry is reported at once, each named by its index and destination', (t) => {
  const error = t.throws(() => translate(spec(overlay(['upperdir=/u'], '/a'), overlay(['lowerdir=/x', 'bogus'], '/b')), ctx()));
  t.regex(error.message, /^mount 1 \(\/a\): no lowerdir.*\nmount 2 \(\/b\): option "bogus"/s);
});

test('x-tsov options on other mounts are refused; specs without overlay entries come back unchanged', (t) => {
  t.throws(() => translate(spec({ destination: '/d', type: 'bind', source: '/srv', options: ['rbind', 'x-tsov.mode=host'] }), ctx()), { message: /x-tsov options apply only to type: overlay mounts/ });
  const plain = spec({ destination: '/d', type: 'bind', source: '/srv', options: ['rbind'] });
  const translation = translate(plain, ctx());
  t.is(translation.spec, plain);
  t.deepEqual(translation.actions, []);
});

test('the directories to probe are the uppers of overlay entries', (t) => {
  t.deepEqual(directoriesToProbe(spec(overlay(LOWERS_UPPER), overlay(['lowerdir=/srv/a'], '/r'), overlay(['bad']))), ['/srv/u']);
});

