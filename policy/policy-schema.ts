/**
 * The policy file's JSON Schema (draft-07, checked by ajv). Every mapping
 * refuses unknown keys. `x-expected` says, for error messages, what a value
 * should be in words.
 */

import { LOG_LEVELS } from '../common/log-levels';
import { MODES, QUIRK_SETTINGS, QUIRKS, REMAP_IDS_SETTINGS, RUNTIME_KINDS, SANDBOX_MEDIA } from './policy-vocabulary';

const absolutePath = { type: 'string', pattern: '^/[^\\x00-\\x1f\\x7f]*$', 'x-expected': 'an absolute path without control characters' } as const;
/** A root the helper may mount inside: "/" would allow every directory on the host. */
const allowedRoot = { type: 'string', pattern: '^/[^\\x00-\\x1f\\x7f]*[^/\\x00-\\x1f\\x7f]$', 'x-expected': 'an absolute directory other than / (a root of / lets the helper mount any host directory), without control characters or a trailing /' } as const;
const memoryBytes = { type: 'integer', minimum: 1048576, 'x-expected': 'a whole number of bytes, at least 1048576 (1 MiB)' } as const;
const callTimeoutSeconds = { type: 'integer', minimum: 1, maximum: 3600, 'x-expected': 'a whole number of seconds from 1 to 3600' } as const;
const diskStallSeconds = callTimeoutSeconds;
const metricsAddress = { type: 'string', pattern: '^(unix:/.+|.*:[0-9]+)$', 'x-expected': 'HOST:PORT or unix:/absolute/path' } as const;
const mode = { enum: MODES } as const;
const runtimeKind = { enum: RUNTIME_KINDS } as const;
const quirkSetting = { enum: QUIRK_SETTINGS } as const;

const quirks = {
  type: 'object',
  'x-expected': 'a mapping of overlay quirks to force or forbid',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(QUIRKS.map((quirk) => [quirk, quirkSetting])),
  },
} as const;

const mapping = <const P extends Record<string, unknown>>(properties: P, extra: Record<string, unknown> = {}) => ({
  type: 'object' as const,
  'x-expected': 'a mapping',
  additionalProperties: false,
  properties,
  ...extra,
});

export const POLICY_SCHEMA = mapping({
  log: mapping({ level: { enum: LOG_LEVELS } }),
  snapshotter: mapping({ root: absolutePath, address: absolutePath, metrics_address: metricsAddress, remap_ids: { enum: REMAP_IDS_SETTINGS }, disk_stall_seconds: diskStallSeconds }),
  helper: mapping({
    socket: absolutePath,
    state_dir: absolutePath,
    allowed_roots: { type: 'array', minItems: 1, items: allowedRoot, 'x-expected': 'a non-empty list of absolute paths' },
    memory_bytes: memoryBytes,
    metrics_address: metricsAddress,
    call_timeout_seconds: callTimeoutSeconds,
    disk_stall_seconds: diskStallSeconds,
  }),
  runtime: mapping({
    kind: runtimeKind,
    binary: absolutePath,
    root: absolutePath,
    runsc_version: { type: 'string', pattern: '^release-[0-9]{8}(\\.[0-9]+)?$', 'x-expected': 'a runsc release such as release-20250611.0 (`runsc --version`)' },
    runsc_allow_flag_override: { type: 'boolean', 'x-expected': 'true or false' },
  }),
  translation: mapping({
    state_dir: absolutePath,
    default_mode: mapping({ runc: mode, crun: mode, runsc: mode }),
    memory_bytes: memoryBytes,
    quirks,
    sandbox: mapping({ medium: { enum: SANDBOX_MEDIA }, rootfs_overlay: { enum: ['none', ...SANDBOX_MEDIA] } }),
    rules: {
      type: 'array',
      'x-expected': 'a list of rules',
      items: mapping(
        {
          destination: { type: 'string', pattern: '^/', 'x-expected': 'an absolute destination glob, e.g. /scratch/**' },
          runtime: runtimeKind,
          annotations: { type: 'object', 'x-expected': 'a mapping of annotation names to values', additionalProperties: { type: 'string', 'x-expected': 'a string' } },
          mode,
          scratch: { type: 'boolean', 'x-expected': 'true or false' },
          quirks,
          memory_bytes: memoryBytes,
        },
        { minProperties: 1 },
      ),
    },
  }),
});


/**
 * The type of a document the schema accepts, derived from the schema itself
 * (the keywords it uses: enum, string, integer, boolean, array items, object
 * properties or additionalProperties), so the loader's raw type cannot drift
 * from what ajv checks.
 */
export type SchemaValue<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'integer' }
      ? number
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'array'; items: infer I }
          ? Array<SchemaValue<I>>
          : S extends { type: 'object'; properties: infer P }
            ? { [K in keyof P]?: SchemaValue<P[K]> }
            : S extends { type: 'object'; additionalProperties: infer A }
              ? Record<string, SchemaValue<A>>
              : never;

export type RawPolicy = SchemaValue<typeof POLICY_SCHEMA>;
