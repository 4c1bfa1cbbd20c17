/**
 * The YAML policy file, read into a typed, complete object (policy-model.ts):
 * by tsov and tsov-runtime in their own process, by the daemons in a
 * short-lived reader process (policy-reader.ts) at start and on SIGHUP.
 * Validated against policy-schema.ts with ajv (policy-validator.ts: the
 * build's compiled validator); every problem is reported at
 * once as FILE:LINE:COLUMN: field: what was expected, got what. Unknown keys
 * are errors.
 */
import fs from 'node:fs';
import type { ErrorObject } from 'ajv';
import YAML, { LineCounter, isMap, isPair, isSeq, type Document, type Node } from 'yaml';
import { StartupError } from '../common/errors';
import { DEFAULT_POLICY, type HelperDaemonSettings, type Policy, type SnapshotterSettings } from './policy-model';
import type { RawPolicy } from './policy-schema';
import { policyValidator } from './policy-validator';
import type { TranslationRule } from './translation-policy';

/** Where a problem is: a path of keys/indexes, and for unknown keys the key itself. */
interface Problem {
  path: Array<string | number>;
  message: string;
  /** The problem is the key itself (an unknown key), not its value. */
  atKey?: boolean;
}

function fieldName(path: ReadonlyArray<string | number>): string {
  if (path.length === 0) return 'top level';
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

/** A value as the error message shows it: JSON, cut short; YAML aliases can make it circular. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    return Array.isArray(value) ? 'a list that contains itself (YAML alias)' : 'a mapping that contains itself (YAML alias)';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function problemOf(error: ErrorObject): Problem {
  const path = error.instancePath === '' ? [] : error.instancePath.slice(1).split('/').map((part) => (/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~')));
  const parent = (error.parentSchema ?? {}) as Record<string, unknown>;
  const expected = parent['x-expected'] as string | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((parent.properties ?? {}) as object);
      return { path: [...path, key], message: `unknown key (expected one of ${known.join(', ')})`, atKey: true };
    }
    case 'enum':
      return { path, message: `expected one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}, got ${shown(error.data)}` };
    case 'minProperties':
      return { path, message: 'an empty rule matches everything and sets nothing; give at least one key' };
    default:
      return { path, message: `expected ${expected ?? error.message ?? 'something else'}, got ${shown(error.data)}` };
  }
}

/** ajv reports a bad value once per failed keyword (type and pattern); keep the first per field. */
function problemsOf(errors: readonly ErrorObject[]): Problem[] {
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const error of errors) {
    const problem = problemOf(error);
    const key = fieldName(problem.path);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/** line:column of the document's first alias (where toJS fails on an unresolved or excessive one). */
function firstAliasPosition(document: Document, lines: LineCounter): string {
  let offset = 0;
  YAML.visit(document, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return YAML.visit.BREAK;
    },
  });
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

/** The source position of a field: of its key for an unknown key, else of its value. */
function position(document: Document, lines: LineCounter, problem: Problem): string {
  let node: unknown = document.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  problem.path.forEach((part, i) => {
    const last = i === problem.path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && (item.key as { value?: unknown } | null)?.value === part);
      const key = pair?.key as Node | null | undefined;
      const value = pair?.value as Node | null | undefined;
      const target = last && problem.atKey ? key : (value ?? key);
      offset = target?.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      offset = item?.range?.[0] ?? offset;
      node = item;
    }
  });
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

function refuse(file: string, lines: string[]): never {
  throw new StartupError(`${file} is not a valid tsov policy:\n  ${lines.join('\n  ')}`);
}

/** Validates an already parsed document; problems are named by field (no positions). */
export function policyFromObject(document: unknown, file: string): Policy {
  const input = document ?? {};
  const validate = policyValidator();
  if (!validate(input)) refuse(file, problemsOf(validate.errors ?? []).map((p) => `${fieldName(p.path)}: ${p.message}`));
  return toPolicy(input as RawPolicy);
}

/** Parses and validates policy text; every problem is reported as FILE:LINE:COLUMN. */
export function policyFromText(text: string, file: string): Policy {
  const lines = new LineCounter();
  const document = YAML.parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    refuse(file, document.errors.map((e) => `${file}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'}: not valid YAML: ${e.message.split('\n')[0]}`));
  }
  let value: unknown;
  try {
    value = document.toJS() ?? {};
  } catch (error) {
    // Aliases are resolved only here: one naming no anchor, or too many of them (an alias bomb).
    refuse(file, [`${file}:${firstAliasPosition(document, lines)}: not valid YAML: ${(error as Error).message}`]);
  }
  const validate = policyValidator();
  if (!validate(value)) {
    refuse(file, problemsOf(validate.errors ?? []).map((p) => `${file}:${position(document, lines, p)}: ${fieldName(p.path)}: ${p.message}`));
  }
  return toPolicy(value as RawPolicy);
}

/**
 * The largest policy file read: the example is 5 KB; a 14 MB file took the YAML
 * parser 8 s and 1.2 GB, on every tsov-runtime call that loads it.
 */
export const POLICY_MAX_BYTES = 1024 * 1024;

/** The policy file, or the defaults when no file is given. */
export function loadPolicy(file: string | undefined): Policy {
  if (file === undefined) return DEFAULT_POLICY;
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > POLICY_MAX_BYTES) throw new StartupError(`policy ${file} is ${size} bytes; a policy is at most ${POLICY_MAX_BYTES} bytes (1 MiB): is it the right file?`);
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`cannot read policy ${file}: ${(error as Error).message}`);
  }
  return policyFromText(text, file);
}

// ---- the validated document, as the schema allows it, to the typed policy ----

type RawRule = NonNullable<NonNullable<RawPolicy['translation']>['rules']>[number];

function toRule(raw: RawRule): TranslationRule {
  const rule: TranslationRule = {};
  if (raw.destination !== undefined) rule.destination = raw.destination;
  if (raw.runtime !== undefined) rule.runtime = raw.runtime;
  if (raw.annotations !== undefined) rule.annotations = raw.annotations;
  if (raw.mode !== undefined) rule.mode = raw.mode;
  if (raw.scratch !== undefined) rule.scratch = raw.scratch;
  if (raw.quirks !== undefined) rule.quirks = raw.quirks;
  if (raw.memory_bytes !== undefined) rule.memoryBytes = raw.memory_bytes;
  return rule;
}

function toPolicy(raw: RawPolicy): Policy {
  const d = DEFAULT_POLICY;
  const t = raw.translation ?? {};
  const runtime: Policy['runtime'] = {
    kind: raw.runtime?.kind ?? d.runtime.kind,
    binary: raw.runtime?.binary ?? d.runtime.binary,
    runscAllowFlagOverride: raw.runtime?.runsc_allow_flag_override ?? d.runtime.runscAllowFlagOverride,
  };
  if (raw.runtime?.runsc_version !== undefined) runtime.runscVersion = raw.runtime.runsc_version;
  if (raw.runtime?.root !== undefined) runtime.root = raw.runtime.root;
  const snapshotter: SnapshotterSettings = {
    root: raw.snapshotter?.root ?? d.snapshotter.root,
    address: raw.snapshotter?.address ?? d.snapshotter.address,
    remapIds: raw.snapshotter?.remap_ids ?? d.snapshotter.remapIds,
    diskStallSeconds: raw.snapshotter?.disk_stall_seconds ?? d.snapshotter.diskStallSeconds,
  };
  if (raw.snapshotter?.metrics_address !== undefined) snapshotter.metricsAddress = raw.snapshotter.metrics_address;
  const helper: HelperDaemonSettings = {
    socket: raw.helper?.socket ?? d.helper.socket,
    stateDir: raw.helper?.state_dir ?? d.helper.stateDir,
    allowedRoots: raw.helper?.allowed_roots ?? d.helper.allowedRoots,
    memoryBytes: raw.helper?.memory_bytes ?? d.helper.memoryBytes,
    callTimeoutSeconds: raw.helper?.call_timeout_seconds ?? d.helper.callTimeoutSeconds,
    diskStallSeconds: raw.helper?.disk_stall_seconds ?? d.helper.diskStallSeconds,
  };
  if (raw.helper?.metrics_address !== undefined) helper.metricsAddress = raw.helper.metrics_address;
  return {
    logLevel: raw.log?.level ?? d.logLevel,
    snapshotter,
    helper,
    runtime,
    translation: {
      stateDir: t.state_dir ?? d.translation.stateDir,
      defaultModes: { ...d.translation.defaultModes, ...t.default_mode },
      rules: (t.rules ?? []).map(toRule),
      quirks: t.quirks ?? d.translation.quirks,
      memoryBytes: t.memory_bytes ?? d.translation.memoryBytes,
      sandbox: { medium: t.sandbox?.medium ?? d.translation.sandbox.medium, rootfsOverlay: t.sandbox?.rootfs_overlay ?? d.translation.sandbox.rootfsOverlay },
    },
  };
}
