/**
 * The policy file's JSON Schema (draft-07, checked by ajv). Every mapping
 * refuses unknown keys. `x-expected` says, for error messages, what a value
 * should be in words.
 */

import { MODES, QUIRK_SETTINGS, QUIRKS, RUNTIME_KINDS, SANDBOX_MEDIA } from './policy-vocabulary';

const absolutePath = { type: 'string', pattern: '^/[^\\x00-\\x1f\\x7f]*$', 'x-expected': 'an absolute path without control characters' } as const;
/** A root the helper may mount inside: "/" would allow every directory on the host. */
const allowedRoot = { type: 'string', pattern: '^/[^\\x00-\\x1f\\x7f]*[^/\\x00-\\x1f\\x7f]$', 'x-expected': 'an absolute directory other than / (a root of / lets the helper mount any host directory), without control characters or a trailing /' } as const;
const memoryBytes = { type: 'integer', minimum: 1048576, 'x-expected': 'a whole number of bytes, at least 1048576 (1 MiB)' } as const;
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

const mapping = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  'x-expected': 'a mapping',
  additionalProperties: false,
  properties,
  ...extra,
});

export const POLICY_SCHEMA = mapping({
  log: mapping({ level: { enum: ['error', 'warn', 'info', 'debug'] } }),
  snapshotter: mapping({ root: absolutePath, address: absolutePath, metrics_address: metricsAddress }),
  helper: mapping({
    socket: absolutePath,
    state_dir: absolutePath,
    allowed_roots: { type: 'array', minItems: 1, items: allowedRoot, 'x-expected': 'a non-empty list of absolute paths' },
    memory_bytes: memoryBytes,
    metrics_address: metricsAddress,
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

