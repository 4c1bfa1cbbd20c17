/**
 * Generators of hostile input for the fuzz tests: path fragments with
 * injection characters, escapes, `..`, symlink names, huge lists, non-UTF-8
 * text; spec mount entries; policy file texts. Deterministic for a seed.
 */
import type { Random } from './random';

const NASTY_FRAGMENTS = [
  '..', '.', '', ',', ':', '\\', '"', '=', ' ', '\t', '\n', '\0', '\x7f', '\u00a0', '\ufffd', '\ud800',
  'lowerdir=/etc', 'upperdir=/', ',lowerdir=/', ':/etc', '\\,', '\\:', '%2e%2e', '~', '$HOME', '`id`', '$(id)', '*', '**',
  'x'.repeat(300), 'ü', '日本', '\u202e', 'link-out', 'link-dir', 'file',
];

/** A path that is sometimes fine, usually hostile; `base` names directories that exist. */
export function hostilePath(random: Random, bases: readonly string[]): string {
  const base = random.pick(bases);
  const parts: string[] = [];
  const depth = random.int(4);
  for (let i = 0; i < depth; i++) parts.push(random.chance(0.6) ? random.pick(NASTY_FRAGMENTS) : random.pick(['a', 'b', 'l1', 'l2', 'up', 'work', 'merged']));
  let value = [base, ...parts].join(random.chance(0.9) ? '/' : '//');
  if (random.chance(0.1)) value = value.slice(1); // relative
  if (random.chance(0.05)) value = `${value}/`;
  return value;
}

export function hostileList<T>(random: Random, make: () => T, huge = 600): T[] {
  const count = random.chance(0.03) ? huge : random.int(5);
  return Array.from({ length: count }, make);
}

const OPTION_WORDS = [
  'index=off', 'index=on', 'index=maybe', 'metacopy=on', 'metacopy=off', 'redirect_dir=on', 'redirect_dir=follow', 'xino=on', 'xino=auto',
  'userxattr', 'volatile', 'ro', 'rw', 'nosuid', 'nodev', 'uuid=on', 'verity=on', 'nfs_export=on', 'x-tsov.mode=host', 'x-tsov.mode=sandbox',
  'x-tsov.mode=memory', 'x-tsov.mode=fuse', 'x-tsov.mode=auto', 'x-tsov.mode=bogus', 'x-tsov.quirks=+volatile,-index', 'x-tsov.quirks=+nope',
  'x-tsov.quirks=volatile', 'lowerdir+=/srv/a', 'default_permissions', '', '=', ',,', 'lowerdir=', 'upperdir=', 'workdir=',
];

/** Options of a spec mount entry. */
export function hostileOverlayOptions(random: Random, bases: readonly string[]): string[] {
  const options: string[] = [];
  const lowers = hostileList(random, () => hostilePath(random, bases), 520);
  if (random.chance(0.85)) options.push(`lowerdir=${lowers.join(random.chance(0.9) ? ':' : '::')}`);
  if (random.chance(0.2)) options.push(...hostileList(random, () => hostilePath(random, bases)));
  if (random.chance(0.7)) options.push(`upperdir=${hostilePath(random, bases)}`);
  if (random.chance(0.7)) options.push(`workdir=${hostilePath(random, bases)}`);
  options.push(...hostileList(random, () => random.pick(OPTION_WORDS)));
  if (random.chance(0.1)) options.push(`upperdir=${hostilePath(random, bases)}`);
  return options.sort(() => random.next() - 0.5);
}

/** Bytes that are not valid UTF-8, decoded the way a reader would. */
export function invalidUtf8(random: Random): string {
  const bytes = Buffer.from(Array.from({ length: 1 + random.int(8) }, () => 0x80 + random.int(0x80)));
  return bytes.toString('latin1');
}

const POLICY_PIECES = [
  'log:\n  level: debug\n', 'log:\n  level: loud\n', 'snapshotter:\n  root: /srv\n', 'snapshotter:\n  root: relative\n', 'helper:\n  allowed_roots: [/a, b]\n',
  'helper:\n  allowed_roots: []\n', 'helper:\n  memory_bytes: -1\n', 'runtime:\n  kind: runsc\n  runsc_version: release-2025\n', 'translation:\n  rules:\n    - {}\n',
  'translation:\n  rules:\n    - destination: /x/**\n      mode: memory\n      scratch: true\n', 'translation:\n  quirks: { index: force }\n', 'translation:\n  quirks: { index: on }\n',
  'unknown: 1\n', 'log: [\n', '\t\tlog: x\n', 'log:\n  level: debug\nlog:\n  level: info\n', '&a [*a]\n', '!!binary ZZZ\n', '---\n---\n', '{{{{', ': :\n', '"\\u0000": x\n',
  'translation:\n  default_mode:\n    runc: sandbox\n', 'helper:\n  allowed_roots:\n' + '    - /r\n'.repeat(200),
];

export function hostilePolicyText(random: Random): string {
  const pieces = Array.from({ length: 1 + random.int(4) }, () => random.pick(POLICY_PIECES));
  let text = pieces.join('');
  if (random.chance(0.2)) {
    const at = random.int(text.length + 1);
    text = text.slice(0, at) + random.pick([invalidUtf8(random), '\0', '\ufeff', '\r', ':', '- ', '  ', '#']) + text.slice(at);
  }
  return text;
}
