// After `tsc`: the policy schema's validator as code, with ajv's standalone generator, so that
// reading a policy does not load and run ajv's compiler (see policy/policy-validator.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { writeGeneratedValidator } = require('../dist/policy/policy-validator.js');
writeGeneratedValidator();
