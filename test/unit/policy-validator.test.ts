/**
 * The policy validator the build writes with ajv's standalone generator
 * (policy/policy-validator.ts): made from the schema in the source, used by
 * load-policy, and answering every input as ajv's compiler does.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { compilePolicyValidator, generatedValidator, GENERATED_VALIDATOR, policyValidator } from '../../policy/policy-validator';
import { makeTempDir } from '../support/temp-dir';

test('the build wrote a validator from this schema, and it is the one policies are checked with', (t) => {
  const generated = generatedValidator();
  if (generated === undefined) return t.fail(`${GENERATED_VALIDATOR} is missing or was built from another schema: npm run build writes it`);
  t.is(policyValidator(), generated);
});

test('the generated validator answers as the compiled one: the verdict and every error, with the schema that failed', (t) => {
  const generated = generatedValidator()!;
  const { validate: compiled } = compilePolicyValidator();
  const inputs: unknown[] = [
    {},
    { log: { level: 'debug' } },
    { log: { level: 'loud' } },
    { snapshoter: { root: '/x' } },
    { snapshotter: { root: 'var/lib', address: 5, remap_ids: 'yes', extra: true } },
    { helper: { allowed_roots: [], memory_bytes: '1G', call_timeout_seconds: 0 } },
    { helper: { allowed_roots: ['/srv', 'tmp'], call_timeout_seconds: 3601 } },
    { runtime: { kind: 'kata', binary: 'runc', runsc_version: 'latest', runsc_allow_flag_override: 'yes' } },
    { translation: { default_mode: { runc: 'turbo', kata: 'host' }, sandbox: { medium: 'disk' }, memory_bytes: 1048576.5 } },
    { translation: { rules: [{ destination: '/scratch/**', runtime: 'runsc', mode: 'memory', scratch: true, quirks: { index: 'forbid' } }, { mode: 7 }] } },
    'just text',
    ['info'],
    null,
  ];
  for (const input of inputs) {
    const verdict = generated(input);
    t.is(verdict, compiled(input), JSON.stringify(input));
    t.deepEqual(generated.errors ?? null, compiled.errors ?? null, JSON.stringify(input));
  }
});

test('a validator the build made from another schema is not used (the schema is compiled instead)', (t) => {
  const dir = makeTempDir(t, 'validator');
  const stale = path.join(dir, 'policy-validator.generated.js');
  const code = fs.readFileSync(GENERATED_VALIDATOR, 'utf8');
  fs.writeFileSync(stale, code.replace(/module\.exports\.schemaJson = .*\n$/, 'module.exports.schemaJson = "{\\"type\\":\\"object\\"}";\n'));
  t.not(fs.readFileSync(stale, 'utf8'), code, 'the copy carries another schema');
  t.is(generatedValidator(stale), undefined);
  t.is(generatedValidator(path.join(dir, 'missing.js')), undefined);
});
