/**
 * policyFromReaderRun (policy/policy-reader.ts): how a daemon reads the end
 * of its policy reader — the policy, the file's problem as loadPolicy words
 * it, or the reader's own failure named with what it printed.
 */
import test from 'ava';
import { StartupError } from '../../common/errors';
import { DEFAULT_POLICY } from '../../policy/policy-model';
import { policyFromReaderRun, type ReaderRun } from '../../policy/policy-reader';

const run = (partial: Partial<ReaderRun>): ReaderRun => ({ stdout: '', stderr: '', status: 0, signal: null, ...partial });

test('policyFromReaderRun: the policy the reader printed', (t) => {
  t.deepEqual(policyFromReaderRun('/etc/tsov/config.yaml', run({ stdout: `${JSON.stringify({ policy: DEFAULT_POLICY })}\n` })), DEFAULT_POLICY);
});

test('policyFromReaderRun: each way a run fails, and the message it gives', (t) => {
  const rows: Array<[string, Partial<ReaderRun>, RegExp, boolean]> = [
    ["the file's problem, as loadPolicy words it", { stdout: '{"error":"/p.yaml is not a valid tsov policy:\\n  /p.yaml:1:1: x"}\n' }, /^\/p\.yaml is not a valid tsov policy:\n {2}\/p\.yaml:1:1: x$/, false],
    ['a crash: the status and the end of stderr', { status: 1, stderr: 'node:internal/x\n  throw err;\nError: Cannot find module ./load-policy\n' }, /failed \(exit status 1\): .*Cannot find module \.\/load-policy; is the installation complete/, true],
    ['killed by a signal', { status: null, signal: 'SIGKILL' }, /failed \(signal SIGKILL\); is the installation/, true],
    ['exit 0 but no JSON', { stdout: 'Debugger listening\n' }, /failed \(exit status 0\)/, true],
    ['exit 0, JSON of neither kind', { stdout: '{"other":1}\n' }, /failed \(exit status 0\)/, true],
    ['JSON null', { stdout: 'null\n' }, /failed \(exit status 0\)/, true],
    ['did not run (spawn error or time)', { status: null, error: new Error('spawnSync /usr/bin/node ETIMEDOUT') }, /did not run to its end: spawnSync \/usr\/bin\/node ETIMEDOUT$/, true],
  ];
  for (const [what, partial, message, readerFailed] of rows) {
    const error = t.throws(() => policyFromReaderRun('/p.yaml', run(partial)), { instanceOf: StartupError }, what);
    t.regex(error?.message ?? '', message, what);
    if (readerFailed) t.regex(error?.message ?? '', /^cannot read policy \/p\.yaml: the policy reader \(/, what);
  }
});
