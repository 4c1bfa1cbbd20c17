/**
 * The policy schema's validator (policy-schema.ts), as ajv compiles it. ajv's
 * require and compile took ~85 ms of every process that reads a policy
 * (tsov health, run by the DaemonSet's probes every few seconds; the
 * daemons' policy reader at start and SIGHUP; tsov-runtime when its cache
 * is stale). `npm run build` writes the compiled validator as code with
 * ajv's standalone generator (scripts/build-policy-validator.mjs, into
 * dist/policy/policy-validator.generated.js; ~3 ms to load); it carries the
 * schema it was built from, and a validator built from another schema (a
 * source change compiled without the build script) is not used: the schema
 * is compiled then, as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { POLICY_SCHEMA } from './policy-schema';

/** Where the build writes the standalone validator (beside this module in dist/policy/). */
export const GENERATED_VALIDATOR = path.join(__dirname, 'policy-validator.generated.js');

/** What the generated module exports beside the function: the schema it was built from, as JSON. */
interface GeneratedValidator {
  default: ValidateFunction;
  schemaJson: string;
}

/** ajv with tsov's options: every error at once, with the schema that failed (x-expected says what was wanted). */
export function compilePolicyValidator(options: { source?: boolean } = {}): { ajv: Ajv; validate: ValidateFunction } {
  const AjvClass = (require('ajv') as typeof import('ajv')).default;
  const ajv = new AjvClass({ allErrors: true, verbose: true, strict: true, code: { source: options.source === true } });
  ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
  return { ajv, validate: ajv.compile(POLICY_SCHEMA) };
}

/** The generated validator if it was built from this schema, else undefined. */
export function generatedValidator(file = GENERATED_VALIDATOR): ValidateFunction | undefined {
  if (!fs.existsSync(file)) return undefined;
  const generated = require(file) as GeneratedValidator;
  return generated.schemaJson === JSON.stringify(POLICY_SCHEMA) ? generated.default : undefined;
}

let validator: ValidateFunction | undefined;

/** The validator, made on first use: the build's, or compiled now. */
export function policyValidator(): ValidateFunction {
  validator ??= generatedValidator() ?? compilePolicyValidator().validate;
  return validator;
}

/** Writes the standalone validator (run by `npm run build`, after tsc). */
export function writeGeneratedValidator(file = GENERATED_VALIDATOR): string {
  const standalone = (require('ajv/dist/standalone') as typeof import('ajv/dist/standalone')).default;
  const { ajv, validate } = compilePolicyValidator({ source: true });
  const code = standalone(ajv, validate);
  fs.writeFileSync(file, `${code}\nmodule.exports.schemaJson = ${JSON.stringify(JSON.stringify(POLICY_SCHEMA))};\n`);
  return file;
}
