/**
 * An independent check of a runsc spec against gVisor's annotation grammar
 * (REFERENCE.md, "gVisor (runsc) facts"), written from the reference and not
 * from tsov's emitter, so the translator's runsc output is tested against the
 * rules rather than against itself. Returns the violations (empty = valid).
 */
interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

interface Spec {
  mounts?: Mount[];
  annotations?: Record<string, string>;
}

const MEDIUM = /^(memory|self|dir=\/[^:,]*)$/;
const HINT_FIELDS = new Set(['source', 'type', 'share', 'options', 'directfs']);

function releaseDate(version: string | undefined): number {
  const m = /release-(\d{8})/.exec(version ?? '');
  return m ? Number(m[1]) : 0;
}

export function gvisorViolations(spec: Spec, runscVersion: string | undefined, allowFlagOverride: boolean): string[] {
  const violations: string[] = [];
  const mounts = spec.mounts ?? [];
  const annotations = spec.annotations ?? {};
  for (const m of mounts) {
    if (m.type === 'overlay') violations.push(`${m.destination}: runsc ignores type overlay mounts`);
    if (m.type !== undefined && !['bind', 'tmpfs', 'proc', 'sysfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2'].includes(m.type)) {
      violations.push(`${m.destination}: type ${m.type} does not reach the sandbox`);
    }
  }
  const date = releaseDate(runscVersion);
  const flag = annotations['dev.gvisor.flag.overlay2'];
  if (flag !== undefined) {
    if (flag !== 'none') {
      const [spec0, ...rest] = flag.split(',');
      const [mount, medium] = (spec0 ?? '').split(':');
      if (!['root', 'all'].includes(mount ?? '') || !MEDIUM.test(medium ?? '')) violations.push(`overlay2 ${flag}: not MOUNT:MEDIUM`);
      if (rest.length > 1 || (rest.length === 1 && !/^size=[0-9]+[kmgKMG]?$/.test(rest[0]!))) violations.push(`overlay2 ${flag}: bad size part`);
      if (rest.length === 1 && date < 20250611) violations.push('overlay2 size= needs runsc release-20250611 or later');
      if ((medium ?? '').startsWith('dir=') && !allowFlagOverride) violations.push('overlay2 dir= always needs --allow-flag-override');
    }
    if (date < 20250106 && !allowFlagOverride) violations.push('flag annotations before release-20250106 need --allow-flag-override');
    // all:MEDIUM overlays every gofer bind that is not ro; an overlaid entry must not be ro
  }
  const hints = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith('dev.gvisor.spec.mount.')) continue;
    const rest = key.slice('dev.gvisor.spec.mount.'.length);
    const dot = rest.lastIndexOf('.');
    const name = rest.slice(0, dot);
    const field = rest.slice(dot + 1);
    if (name === '' || name.includes('.')) violations.push(`${key}: NAME must be non-empty without '.'`);
    if (!HINT_FIELDS.has(field)) violations.push(`${key}: unknown hint field ${field}`);
    hints.set(name, { ...(hints.get(name) ?? {}), [field]: value });
  }
  const seenSources = new Set<string>();
  for (const [name, hint] of hints) {
    if (hint.source === undefined || hint.type === undefined || hint.share === undefined) violations.push(`hint ${name}: needs source, type and share (else runsc drops it)`);
    if (hint.type !== undefined && !['bind', 'tmpfs'].includes(hint.type)) violations.push(`hint ${name}: type ${hint.type}`);
    if (hint.share !== undefined && !['container', 'pod', 'shared'].includes(hint.share)) violations.push(`hint ${name}: share ${hint.share}`);
    if (hint.directfs !== undefined && !['default', 'off'].includes(hint.directfs)) violations.push(`hint ${name}: directfs ${hint.directfs}`);
    if (hint.source !== undefined) {
      if (seenSources.has(hint.source)) violations.push(`hint ${name}: two hints with source ${hint.source} are fatal`);
      seenSources.add(hint.source);
      const mount = mounts.find((m) => m.source === hint.source);
      if (mount === undefined) violations.push(`hint ${name}: source ${hint.source} equals no spec mount's source`);
      else if (hint.type === 'bind' && (mount.options ?? []).includes('ro')) violations.push(`hint ${name}: the overlaid bind ${mount.destination} is ro, so runsc gives it no overlay`);
    }
  }
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith('dev.gvisor.spec.rootfs.')) continue;
    const field = key.slice('dev.gvisor.spec.rootfs.'.length);
    if (field === 'source' && !value.startsWith('/')) violations.push('rootfs.source must be absolute');
    if (field === 'type' && !['erofs', 'bind'].includes(value)) violations.push(`rootfs.type ${value}`);
    if (field === 'overlay' && !MEDIUM.test(value)) violations.push(`rootfs.overlay ${value}`);
  }
  return violations;
}
