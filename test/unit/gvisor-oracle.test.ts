/**
 * The oracle's own rules (test/support/gvisor-oracle.ts) on hand-written specs,
 * one per gVisor code path it models, so that the matrix test rests on rules
 * that are themselves checked against what gVisor's source says.
 */
import test from 'ava';
import { runscOutcome, writableHostLayerBinds, type RunscOutcome } from '../support/gvisor-oracle';

const NEW = { release: 'release-20250611.0', allowFlagOverride: false };
const bind = (source: string, ...options: string[]) => ({ destination: `/m${source}`, type: 'bind', source, options: ['rbind', ...options] });
const hint = (name: string, source: string, share = 'container') => ({
  [`dev.gvisor.spec.mount.${name}.source`]: source,
  [`dev.gvisor.spec.mount.${name}.type`]: 'bind',
  [`dev.gvisor.spec.mount.${name}.share`]: share,
});
const fates = (outcome: RunscOutcome) => ('refused' in outcome ? outcome.refused : outcome.mounts.map((m) => m.overlay));

const cases: Array<[string, Parameters<typeof runscOutcome>[0], Parameters<typeof runscOutcome>[1], string[] | RegExp]> = [
  // runsc/specutils/fs.go validateMount / invalidOptions
  ['rshared on a bind is refused', { mounts: [bind('/a', 'rshared')] }, NEW, /mount option "rshared" is not supported/],
  ['rslave is fine', { mounts: [bind('/a', 'rslave')] }, NEW, ['none']],
  // config/config.go Overlay2: the default root:self leaves sub-mounts alone
  ['a plain writable bind gets no overlay', { mounts: [bind('/a')] }, NEW, ['none']],
  ['overlay2=all:memory overlays writable binds', { mounts: [bind('/a'), bind('/b', 'ro')], annotations: { 'dev.gvisor.flag.overlay2': 'all:memory' } }, NEW, ['memory', 'none']],
  // config/flags.go overrideAllowlist / checkOverlay2, by release
  ['a flag annotation before release-20250106 fails without the override', { mounts: [bind('/a')], annotations: { 'dev.gvisor.flag.overlay2': 'all:memory' } }, { release: 'release-20241217.0', allowFlagOverride: false }, /flag override disabled/],
  ['... and works with it', { mounts: [bind('/a')], annotations: { 'dev.gvisor.flag.overlay2': 'all:memory' } }, { release: 'release-20241217.0', allowFlagOverride: true }, ['memory']],
  ['dir= needs the override even on new releases', { mounts: [bind('/a')], annotations: { 'dev.gvisor.flag.overlay2': 'all:dir=/x' } }, NEW, /requires flag "allow-flag-override"/],
  ['size= before release-20250611 is an invalid value', { mounts: [bind('/a')], annotations: { 'dev.gvisor.flag.overlay2': 'all:memory,size=1G' } }, { release: 'release-20250301.0', allowFlagOverride: false }, /size= exists from release-20250611.0/],
  ['another flag needs the override', { mounts: [], annotations: { 'dev.gvisor.flag.debug-log': '/x' } }, NEW, /flag override disabled/],
  // boot/mount_hints.go NewPodMountHints, FindMount; container.go initGoferConfs
  ['a container hint gives a self overlay, even to an ro bind', { mounts: [bind('/a'), bind('/b', 'ro')], annotations: { ...hint('a', '/a'), ...hint('b', '/b') } }, NEW, ['self', 'self']],
  ['from release-20250611 a shared hint gives none', { mounts: [bind('/a')], annotations: hint('a', '/a', 'shared') }, NEW, ['none']],
  ['before that it does', { mounts: [bind('/a')], annotations: hint('a', '/a', 'shared') }, { release: 'release-20250301.0', allowFlagOverride: false }, ['self']],
  ['before release-20231113 no hint gives an overlay', { mounts: [bind('/a')], annotations: hint('a', '/a') }, { release: 'release-20231106.0', allowFlagOverride: false }, ['none']],
  ['a CRI sub-container ignores its own hints', { mounts: [bind('/a')], annotations: { ...hint('a', '/a'), 'io.kubernetes.cri.container-type': 'container' } }, NEW, ['none']],
  ['a hint names every mount of its source; the second self overlay fails', { mounts: [bind('/a'), { ...bind('/a'), destination: '/again' }], annotations: hint('a', '/a') }, NEW, /repeated submounts are not supported/],
  ['two hints with one source are fatal', { mounts: [bind('/a')], annotations: { ...hint('a', '/a'), ...hint('b', '/a') } }, NEW, /have the same mount source/],
  ['a hint name with a dot is fatal', { mounts: [], annotations: { 'dev.gvisor.spec.mount.a.b.source': '/a' } }, NEW, /invalid mount annotation/],
  ['a hint without type is dropped, not fatal', { mounts: [bind('/a')], annotations: { 'dev.gvisor.spec.mount.a.source': '/a' } }, NEW, ['none']],
  // specutils IsGoferMount: tmpfs and overlay entries are not gofer mounts
  ['type overlay is not a gofer mount (runsc drops it)', { mounts: [{ destination: '/ov', type: 'overlay', source: 'overlay' }] }, NEW, ['none']],
];
for (const [name, spec, runsc, expected] of cases) {
  test(`oracle: ${name}`, (t) => {
    const outcome = runscOutcome(spec, runsc);
    if (expected instanceof RegExp) t.regex('refused' in outcome ? outcome.refused : 'accepted', expected);
    else t.deepEqual(fates(outcome), expected);
  });
}

test('the invariant: a writable bind of a host layer without an overlay is named; read-only or overlaid binds are not', (t) => {
  const outcome = runscOutcome({ mounts: [bind('/lower'), bind('/upper', 'ro'), bind('/other')], annotations: hint('o', '/other') }, NEW);
  t.deepEqual(writableHostLayerBinds(outcome, new Set(['/lower', '/upper', '/other'])), ['/m/lower: a writable bind of /lower without an overlay (writes reach the host directory)']);
});
