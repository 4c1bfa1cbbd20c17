/**
 * A daemon's policy, read by a short-lived node process (policy-reader-main.ts)
 * that runs the YAML parser and the schema validator (load-policy.ts) and
 * prints the validated policy as JSON. The daemons never load yaml or ajv:
 * their code and objects, ~2 MiB resident for as long as a daemon runs, leave
 * with the reader. The policy and the messages for a bad file are loadPolicy's
 * (test/integration/policy-reader.test.ts compares them).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { StartupError } from '../common/errors';
import type { Policy } from './policy-model';

const READER = path.join(__dirname, 'policy-reader-main.js');
/** A 1 MiB policy (the largest read) takes the reader ~1 s; a reader that takes this long is stuck. */
const READER_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** What the reader prints on stdout: one JSON line. */
export type ReaderOutput = { policy: Policy } | { error: string };

/** How a reader run ended, as node's child_process reports it. */
export interface ReaderRun {
  stdout: string;
  stderr: string;
  status: number | null;
  signal: string | null;
  /** The reader could not run or was killed for its time (spawn error, ETIMEDOUT). */
  error?: Error;
}

function describeCommand(): string {
  return `${process.execPath} ${READER}`;
}

/** The policy, or the StartupError that names what was wrong: the file's problem, or the reader's. */
export function policyFromReaderRun(file: string, run: ReaderRun): Policy {
  if (run.error !== undefined) throw new StartupError(`cannot read policy ${file}: the policy reader (${describeCommand()}) did not run to its end: ${run.error.message}`);
  if (run.status === 0) {
    let output: unknown;
    try {
      output = JSON.parse(run.stdout);
    } catch {
      output = undefined;
    }
    if (typeof output === 'object' && output !== null) {
      if ('policy' in output) return output.policy as Policy;
      if ('error' in output && typeof output.error === 'string') throw new StartupError(output.error);
    }
  }
  const how = run.status !== null ? `exit status ${run.status}` : `signal ${run.signal ?? 'unknown'}`;
  const said = run.stderr.trim().split('\n').slice(-5).join(' | ');
  throw new StartupError(`cannot read policy ${file}: the policy reader (${describeCommand()}) failed (${how})${said === '' ? '' : `: ${said}`}; is the installation complete (npm run build)?`);
}

/** At start and on SIGHUP, without blocking the calls being served (a daemon serves systemd's socket while it reads). */
export function readPolicy(file: string): Promise<Policy> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [READER, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let bytes = 0;
    let failure: Error | undefined;
    const stop = (error: Error) => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new Error(`no answer in ${READER_TIMEOUT_MS / 1000} s`)), READER_TIMEOUT_MS);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) stop(new Error(`more than ${MAX_OUTPUT_BYTES} bytes of output`));
      else into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    child.on('error', stop);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const run: ReaderRun = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), status, signal, ...(failure !== undefined ? { error: failure } : {}) };
      try {
        resolve(policyFromReaderRun(file, run));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}
