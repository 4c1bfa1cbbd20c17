/**
 * The loader's raw policy type is derived from the JSON Schema (policy-schema.ts
 * SchemaValue): these assignments compile only while the derivation keeps
 * each field's type, so a schema change shows up in the loader at build time.
 */
import test from 'ava';
import type { RawPolicy } from '../../policy/policy-schema';

test('the raw policy type follows the schema: enums, paths, numbers, lists, rules', (t) => {
  const good: RawPolicy = {
    log: { level: 'debug' },
    helper: { allowed_roots: ['/srv'], memory_bytes: 1048576 },
    runtime: { kind: 'runsc', runsc_allow_flag_override: true },
    translation: { default_mode: { runsc: 'host' }, sandbox: { medium: 'memory', rootfs_overlay: 'none' }, quirks: { index: 'forbid' }, rules: [{ destination: '/x', mode: 'sandbox', scratch: true, annotations: { a: 'b' } }] },
  };
  // @ts-expect-error a mode the schema does not list
  const badMode: RawPolicy = { translation: { default_mode: { runc: 'turbo' } } };
  // @ts-expect-error a number where the schema says string
  const badPath: RawPolicy = { snapshotter: { root: 5 } };
  // @ts-expect-error a key the schema does not have
  const badKey: RawPolicy = { helper: { sockets: '/x' } };
  // @ts-expect-error a log level the schema does not list
  const badLevel: RawPolicy = { log: { level: 'loud' } };
  t.truthy(good && badMode && badPath && badKey && badLevel);
});
