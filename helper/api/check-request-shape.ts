/**
 * First line of the helper's defence, before it looks at any file: every path
 * absolute, normalised and free of characters that could smuggle options into
 * the overlay option string; layer counts and option combinations the kernel
 * refuses (or accepts and then misbehaves with). Pure: request in, problems out.
 */
import path from 'node:path';
import { BACKENDS, MAX_LOWERS, type OverlayMountRequest } from './mount-request';
import { OVERLAY_OPTIONS } from './overlay-options';
import { INVALID_ID, MAX_ID_MAP_RANGES, reachesPastLastId, type IdMapRange } from '../../common/id-mapping';

export interface ShapeProblem {
  /** The request field the problem is about, e.g. "lowers[3]", "choices.metacopy". */
  field: string;
  message: string;
}

/** Characters no path may contain: option separators, escapes, quotes, '=' and white space. */
const FORBIDDEN_IN_PATH: ReadonlyArray<[RegExp, string]> = [
  [/\0/, 'a NUL byte'],
  [/[\x01-\x1f\x7f]/, 'a control character'],
  [/,/, "',' (it separates mount options)"],
  [/\\/, "'\\' (overlayfs reads it as an escape)"],
  [/"/, "'\"'"],
  [/=/, "'=' (it separates option keys from values)"],
  [/\s/u, 'white space'],
];

/** Owners are container ids: runc's rules (libcontainer validateID), at most 128 characters. */
const OWNER_PATTERN = /^[A-Za-z0-9_+.-]{1,128}$/;

/** A path for a message: quoted, escaped, cut at 80 characters. */
export function shownPath(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/**
 * What in a path could change the overlay option string or mountinfo: one
 * phrase per kind of character found ("contains ',' (it separates ...)").
 * Checked on the requested path and again on where it really leads.
 */
export function forbiddenCharacters(value: string, isLower: boolean): string[] {
  const found = FORBIDDEN_IN_PATH.filter(([pattern]) => pattern.test(value)).map(([, what]) => `contains ${what}`);
  if (isLower && value.includes(':')) found.push("contains ':', which separates lowerdir layers");
  return found;
}

function pathProblems(field: string, value: unknown, isLower: boolean): ShapeProblem[] {
  if (typeof value !== 'string' || value === '') return [{ field, message: 'must be a non-empty absolute path' }];
  const shown = shownPath(value);
  const problems: ShapeProblem[] = forbiddenCharacters(value, isLower).map((what) => ({ field, message: `${shown} ${what}; rename the directory or use a path without it` }));
  if (!value.startsWith('/')) {
    problems.push({ field, message: `${shown} is relative; give an absolute path` });
  } else if (path.posix.normalize(value) !== value || (value.length > 1 && value.endsWith('/'))) {
    problems.push({ field, message: `${shown} is not normalised ('.', '..', '//' or a trailing '/'); give the plain absolute path` });
  }
  return problems;
}

function layerProblems(request: OverlayMountRequest): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const lowers = Array.isArray(request.lowers) ? request.lowers : [];
  const hasUpper = request.upper !== undefined;
  const hasWork = request.work !== undefined;
  if (request.backend === 'memory') {
    if (hasUpper || hasWork) {
      problems.push({ field: 'upper', message: 'backend memory makes its own upper and work on a tmpfs; leave upper and work out' });
    }
    if (lowers.length === 0) problems.push({ field: 'lowers', message: 'no lower directories; give at least one' });
    return problems;
  }
  if (hasUpper !== hasWork) {
    problems.push({ field: hasUpper ? 'work' : 'upper', message: 'upper and work go together: give both (work empty, on the same mount as upper) or neither' });
  }
  if (lowers.length === 0) problems.push({ field: 'lowers', message: 'no lower directories; give at least one' });
  else if (lowers.length === 1 && !hasUpper) {
    problems.push({ field: 'lowers', message: 'one lower and no upper is not an overlay; give a second lower, or an upper and work' });
  }
  if (lowers.length > MAX_LOWERS) {
    problems.push({ field: 'lowers', message: `${lowers.length} lower directories; the kernel stacks at most ${MAX_LOWERS}: flatten some layers` });
  }
  const seen = new Map<string, number>();
  lowers.forEach((lower, i) => {
    const first = seen.get(lower);
    if (first !== undefined) problems.push({ field: `lowers[${i}]`, message: `${JSON.stringify(lower)} is also lowers[${first}]; list each layer once` });
    else seen.set(lower, i);
  });
  return problems;
}

/** Every value a typed choice may take (from the option table); anything else (e.g. "off,lowerdir=/etc") is refused, never passed on. */
const CHOICE_VALUES: Record<string, readonly unknown[]> = Object.fromEntries(
  OVERLAY_OPTIONS.map((option) => [option.field, option.values === 'flag' ? [true, false] : option.values]),
);

function choiceValueProblems(choices: unknown): ShapeProblem[] {
  if (choices === undefined) return [];
  if (choices === null || typeof choices !== 'object') return [{ field: 'choices', message: 'must be an object of typed overlay options' }];
  const problems: ShapeProblem[] = [];
  for (const [key, value] of Object.entries(choices)) {
    if (value === undefined) continue;
    const allowed = CHOICE_VALUES[key];
    if (allowed === undefined) problems.push({ field: `choices.${key}`, message: `unknown overlay option; known: ${Object.keys(CHOICE_VALUES).join(', ')}` });
    else if (!allowed.includes(value)) {
      problems.push({ field: `choices.${key}`, message: `${JSON.stringify(value)} is not a value of this option; use one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` });
    }
  }
  return problems;
}

/** Option combinations the kernel refuses with EINVAL (Documentation/filesystems/overlayfs.rst; fs/overlayfs/params.c "conflicting options"). */
function choiceProblems(request: OverlayMountRequest): ShapeProblem[] {
  const c = request.choices ?? {};
  const problems: ShapeProblem[] = [];
  const conflict = (field: string, message: string) => problems.push({ field: `choices.${field}`, message });
  if (c.metacopy === 'on' && c.redirectDir !== undefined && c.redirectDir !== 'on') {
    conflict('metacopy', `metacopy=on needs redirect_dir=on, not ${c.redirectDir}; drop one of them`);
  }
  if (c.metacopy === 'on' && c.userxattr === true) {
    conflict('metacopy', 'metacopy=on conflicts with userxattr (metacopy trusts xattrs an unprivileged user could forge); drop one of them');
  }
  if (c.userxattr === true && (c.redirectDir === 'on' || c.redirectDir === 'follow')) {
    conflict('redirectDir', `userxattr allows only redirect_dir=nofollow or off, not ${c.redirectDir}`);
  }
  if (c.nfsExport === 'on' && c.index === 'off') conflict('nfsExport', 'nfs_export=on needs index=on; drop index=off or nfs_export');
  if (c.nfsExport === 'on' && c.metacopy === 'on') conflict('nfsExport', 'nfs_export=on conflicts with metacopy=on; drop one of them');
  if (c.volatile === true && request.upper === undefined && request.backend !== 'memory') {
    conflict('volatile', 'volatile needs an upper directory; give upper and work or drop volatile');
  }
  if (request.backend === 'fuse' && Object.values(c).some((v) => v !== undefined)) {
    conflict('backend', 'fuse-overlayfs takes no kernel overlay options; drop the choices or use backend kernel');
  }
  return problems;
}

/** One id map of a user namespace, as the kernel takes it for uid_map (user_namespaces(7)): ranges within 32 bits, none overlapping. */
function idMapProblems(field: string, ranges: unknown): ShapeProblem[] {
  if (!Array.isArray(ranges) || ranges.length === 0) return [{ field, message: 'must list at least one range (container id, host id, size)' }];
  if (ranges.length > MAX_ID_MAP_RANGES) return [{ field, message: `${ranges.length} ranges; the kernel takes at most ${MAX_ID_MAP_RANGES}` }];
  const problems: ShapeProblem[] = [];
  const id = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < INVALID_ID;
  const valid: IdMapRange[] = [];
  ranges.forEach((range: IdMapRange, i) => {
    const at = `${field}[${i}]`;
    if (!id(range?.containerId) || !id(range?.hostId) || !Number.isSafeInteger(range?.size) || range.size < 1) {
      problems.push({ field: at, message: `container id and host id must be whole numbers below ${INVALID_ID}, size at least 1` });
    } else if (reachesPastLastId(range)) {
      problems.push({ field: at, message: `${range.containerId}:${range.hostId}:${range.size} reaches past id ${INVALID_ID - 1}` });
    } else {
      valid.push(range);
    }
  });
  for (const [side, key] of [['container', 'containerId'], ['host', 'hostId']] as const) {
    const sorted = [...valid].sort((a, b) => a[key] - b[key]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![key] < sorted[i - 1]![key] + sorted[i - 1]!.size) problems.push({ field, message: `ranges overlap in ${side} ids at ${sorted[i]![key]}; the kernel refuses such a map` });
    }
  }
  return problems;
}

function idMappingProblems(request: OverlayMountRequest): ShapeProblem[] {
  const mapping = request.idMapping;
  if (mapping === undefined) return [];
  return [...idMapProblems('idMapping.uid', mapping.uid), ...idMapProblems('idMapping.gid', mapping.gid)];
}

export function checkRequestShape(request: OverlayMountRequest): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  if (typeof request.owner !== 'string' || !OWNER_PATTERN.test(request.owner) || request.owner === '.' || request.owner === '..') {
    problems.push({ field: 'owner', message: `${typeof request.owner === 'string' ? shownPath(request.owner) : 'the owner'} is not a container id: 1-128 letters, digits, "_", "+", "-" and ".", and not "." or ".."` });
  }
  if (!BACKENDS.includes(request.backend)) {
    problems.push({ field: 'backend', message: `must be one of ${BACKENDS.join(', ')}` });
  }
  const lowers = Array.isArray(request.lowers) ? request.lowers : [];
  lowers.forEach((lower, i) => problems.push(...pathProblems(`lowers[${i}]`, lower, true)));
  if (request.upper !== undefined) problems.push(...pathProblems('upper', request.upper, false));
  if (request.work !== undefined) problems.push(...pathProblems('work', request.work, false));
  problems.push(...pathProblems('target', request.target, false));
  if (request.ownerAlivePath !== undefined) problems.push(...pathProblems('ownerAlivePath', request.ownerAlivePath, false));
  if (request.ownerPid !== undefined && (!Number.isSafeInteger(request.ownerPid) || request.ownerPid < 1)) {
    problems.push({ field: 'ownerPid', message: 'must be a process id (a positive whole number)' });
  }
  problems.push(...layerProblems(request));
  const choiceValues = choiceValueProblems(request.choices);
  problems.push(...choiceValues);
  if (choiceValues.length === 0) problems.push(...choiceProblems(request));
  problems.push(...idMappingProblems(request));
  if (request.memoryBytes !== undefined && (!Number.isSafeInteger(request.memoryBytes) || request.memoryBytes < 1024 * 1024)) {
    problems.push({ field: 'memoryBytes', message: 'must be a whole number of bytes, at least 1 MiB' });
  }
  return problems;
}
