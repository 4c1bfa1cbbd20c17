/**
 * Every runsc translation, over a matrix of spec shapes × policies, is either
 * refused with a reason or accepted by the gVisor oracle
 * (test/support/gvisor-oracle.ts, which follows gVisor's own code) with no
 * writable bind of a host lower or upper that runsc does not overlay — the
 * invariant issue 14 asks the translator to keep. With an unknown runsc
 * release the translation must hold on every release the oracle knows (where
 * runsc accepts what the spec's author wrote).
 */
import test from 'ava';
import { DEFAULT_TRANSLATION_POLICY, type RuntimeSettings, type TranslationPolicy } from '../../policy/translation-policy';
import type { OciMount, OciSpec } from '../../translator/spec/oci-spec';
import { translate } from '../../translator/translate';
import { KNOWN_RELEASES, runscOutcome, writableHostLayerBinds } from '../support/gvisor-oracle';

interface Shape {
  name: string;
  spec: OciSpec;
}

const overlay = (destination: string, options: string[]): OciMount => ({ destination, type: 'overlay', source: 'overlay', options });
const withUpper = (lowers: string, n = '') => [`lowerdir=${lowers}`, `upperdir=/srv/u${n}`, `workdir=/srv/w${n}`];
const base = (mounts: OciMount[], annotations: Record<string, string> = {}): OciSpec => ({
  ociVersion: '1.0.2',
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, ...mounts],
  annotations,
});

const SHAPES: Shape[] = [
  { name: 'one lower with an upper', spec: base([overlay('/ov', withUpper('/srv/a'))]) },
  { name: 'several lowers with an upper', spec: base([overlay('/ov', withUpper('/srv/a:/srv/b'))]) },
  { name: 'read-only, one lower', spec: base([overlay('/ov', ['lowerdir=/srv/a'])]) },
  { name: 'read-only, several lowers', spec: base([overlay('/ov', ['lowerdir=/srv/a:/srv/b'])]) },
  { name: 'the lower also bound elsewhere', spec: base([{ destination: '/data', type: 'bind', source: '/srv/a', options: ['rbind', 'rw'] }, overlay('/ov', withUpper('/srv/a'))]) },
  { name: 'two entries on one lower', spec: base([overlay('/ov1', withUpper('/srv/a', '1')), overlay('/ov2', withUpper('/srv/a', '2'))]) },
  { name: 'rshared on the entry', spec: base([overlay('/ov', [...withUpper('/srv/a'), 'rshared'])]) },
  { name: 'a CRI sub-container', spec: base([overlay('/ov', withUpper('/srv/a'))], { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'pod1' }) },
  {
    name: 'gVisor annotations already in the spec',
    spec: base([overlay('/ov', withUpper('/srv/a'))], {
      'dev.gvisor.spec.mount.cache.source': '/srv/cache',
      'dev.gvisor.spec.mount.cache.type': 'tmpfs',
      'dev.gvisor.spec.mount.cache.share': 'pod',
      'dev.gvisor.flag.overlay2': 'root:self',
    }),
  },
  { name: 'a hint already on the lower', spec: base([overlay('/ov', withUpper('/srv/a'))], { 'dev.gvisor.spec.mount.mine.source': '/srv/a', 'dev.gvisor.spec.mount.mine.type': 'bind', 'dev.gvisor.spec.mount.mine.share': 'container' }) },
];

interface Setup {
  name: string;
  policy: TranslationPolicy;
  runtime: RuntimeSettings;
}

const runsc = (version: string | undefined, allowFlagOverride = false): RuntimeSettings => ({ kind: 'runsc', binary: '/usr/bin/runsc', runscVersion: version, runscAllowFlagOverride: allowFlagOverride });
const sandbox = (medium: 'self' | 'memory', rootfsOverlay: 'none' | 'self' | 'memory' = 'none'): TranslationPolicy => ({
  ...DEFAULT_TRANSLATION_POLICY,
  rules: [{ destination: '/**', mode: 'sandbox', scratch: true }],
  sandbox: { medium, rootfsOverlay },
});

const SETUPS: Setup[] = [
  { name: 'the default (host), release-20250611.0', policy: DEFAULT_TRANSLATION_POLICY, runtime: runsc('release-20250611.0') },
  { name: 'the default (host), an unknown release', policy: DEFAULT_TRANSLATION_POLICY, runtime: runsc(undefined) },
  { name: 'sandbox self, release-20250611.0', policy: sandbox('self'), runtime: runsc('release-20250611.0') },
  { name: 'sandbox memory, release-20250611.0', policy: sandbox('memory'), runtime: runsc('release-20250611.0') },
  { name: 'sandbox self, release-20231106.0 (before hints)', policy: sandbox('self'), runtime: runsc('release-20231106.0') },
  { name: 'sandbox memory, release-20241217.0', policy: sandbox('memory'), runtime: runsc('release-20241217.0') },
  { name: 'sandbox memory, release-20241217.0 with --allow-flag-override', policy: sandbox('memory'), runtime: runsc('release-20241217.0', true) },
  { name: 'sandbox self, release-20250301.0', policy: sandbox('self'), runtime: runsc('release-20250301.0') },
  { name: 'sandbox memory, release-20250301.0', policy: sandbox('memory'), runtime: runsc('release-20250301.0') },
  { name: 'sandbox self, an unknown release', policy: sandbox('self'), runtime: runsc(undefined) },
  { name: 'sandbox memory, an unknown release', policy: sandbox('memory'), runtime: runsc(undefined) },
  { name: 'sandbox memory with a self rootfs overlay, release-20250611.0', policy: sandbox('memory', 'self'), runtime: runsc('release-20250611.0') },
  { name: 'sandbox self with a memory rootfs overlay, release-20250611.0', policy: sandbox('self', 'memory'), runtime: runsc('release-20250611.0') },
  { name: 'the default (host) with a memory rootfs overlay, release-20250611.0', policy: { ...DEFAULT_TRANSLATION_POLICY, sandbox: { medium: 'self', rootfsOverlay: 'memory' } }, runtime: runsc('release-20250611.0') },
];

/** Every lower and upper the spec's overlay entries name (what must never be written through an un-overlaid bind). */
function hostLayers(spec: OciSpec): Set<string> {
  const layers = new Set<string>();
  for (const mount of spec.mounts ?? []) {
    if (mount.type !== 'overlay') continue;
    for (const option of mount.options ?? []) {
      const [key, value] = option.split('=', 2);
      if (key === 'lowerdir') for (const lower of value!.split(':')) layers.add(lower);
      if (key === 'upperdir') layers.add(value!);
    }
  }
  return layers;
}

/** The releases the translation must hold on: the configured one, or (unknown) every known one where runsc accepts the author's spec. */
function releasesFor(setup: Setup, original: OciSpec): string[] {
  const allow = setup.runtime.runscAllowFlagOverride;
  if (setup.runtime.runscVersion !== undefined) return [setup.runtime.runscVersion];
  return KNOWN_RELEASES.filter((release) => !('refused' in runscOutcome(original, { release, allowFlagOverride: allow })));
}

test(`runsc translations over ${SHAPES.length} spec shapes × ${SETUPS.length} policies: refused with a reason, or accepted by gVisor's rules with no writable un-overlaid bind of a host layer`, (t) => {
  t.true(SHAPES.length >= 9 && SETUPS.length >= 8);
  let accepted = 0;
  let refused = 0;
  const table: string[] = [];
  for (const shape of SHAPES) {
    for (const setup of SETUPS) {
      const cell = `${shape.name} × ${setup.name}`;
      let translated: OciSpec;
      try {
        translated = translate(shape.spec, { containerId: 'c1', policy: setup.policy, runtime: setup.runtime, probes: new Map() }).spec;
      } catch (error) {
        const reason = (error as Error).message;
        t.regex(reason, /\S{3,}.*(use|set|drop|remove|bind|upgrade|rename|mark)/i, `${cell}: a refusal says what to do (${reason})`);
        refused++;
        table.push(`refused  ${cell}: ${reason.split('\n')[0]!.slice(0, 140)}`);
        continue;
      }
      const translatedEntries = new Set((shape.spec.mounts ?? []).filter((m) => m.type === 'overlay').map((m) => m.destination));
      for (const release of releasesFor(setup, shape.spec)) {
        const outcome = runscOutcome(translated, { release, allowFlagOverride: setup.runtime.runscAllowFlagOverride });
        if ('refused' in outcome) {
          t.fail(`${cell} on ${release}: tsov accepted it but runsc refuses the translated spec: ${outcome.refused}`);
          continue;
        }
        const own = { mounts: outcome.mounts.filter((m) => translatedEntries.has(m.destination)) };
        t.deepEqual(writableHostLayerBinds(own, hostLayers(shape.spec)), [], `${cell} on ${release}`);
      }
      accepted++;
      table.push(`accepted ${cell}`);
    }
  }
  t.log(`${accepted} accepted, ${refused} refused of ${SHAPES.length * SETUPS.length}`);
  t.true(accepted > 0 && refused > 0, table.join('\n'));
});

test('the host default under runsc: every upperdir shape is accepted and its writes persist in upperdir', (t) => {
  for (const shape of SHAPES.filter((s) => hostLayers(s.spec).has('/srv/u') && !s.name.startsWith('gVisor'))) {
    const translation = translate(shape.spec, { containerId: 'c1', policy: DEFAULT_TRANSLATION_POLICY, runtime: runsc('release-20250611.0'), probes: new Map() });
    for (const entry of translation.report) {
      t.is(entry.mode, 'host', shape.name);
      t.regex(entry.writes, /persistent, as with runc/, shape.name);
    }
  }
  const shared = translate(SHAPES.find((s) => s.name === 'rshared on the entry')!.spec, { containerId: 'c1', policy: DEFAULT_TRANSLATION_POLICY, runtime: runsc('release-20250611.0'), probes: new Map() });
  t.false(shared.spec.mounts![1]!.options!.includes('rshared'), 'rshared is dropped from the bind');
  t.regex(shared.report[0]!.reasons.join('\n'), /rshared dropped: runsc refuses a spec with shared or rshared mounts/);
});
