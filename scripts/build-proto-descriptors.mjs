// After `tsc`: the JSON descriptors of the .proto files tsov serves and calls,
// which the daemons load without a .proto parser (see common/proto-descriptors.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { writeDescriptors } = require('../dist/common/proto-descriptors.js');
writeDescriptors();
