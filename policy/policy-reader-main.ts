/**
 * node policy-reader-main.js FILE: the policy reader a daemon runs
 * (policy-reader.ts). Prints one JSON line, {"policy": …} or {"error": the
 * message loadPolicy gives for a bad file}; anything else it throws is a crash,
 * with node's stack on stderr and a non-zero status.
 */
import { StartupError } from '../common/errors';
import { loadPolicy } from './load-policy';
import type { ReaderOutput } from './policy-reader';

function read(file: string | undefined): ReaderOutput {
  if (file === undefined || process.argv.length !== 3) return { error: 'usage: policy-reader-main.js FILE' };
  try {
    return { policy: loadPolicy(file) };
  } catch (error) {
    if (error instanceof StartupError) return { error: error.message };
    throw error;
  }
}

process.stdout.write(`${JSON.stringify(read(process.argv[2]))}\n`);
