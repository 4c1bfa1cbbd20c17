/** The log level a daemon runs at: --log-level over the policy's, refused when it is not a level. */
import test from 'ava';
import { UsageError } from '../../common/errors';
import { chooseLogLevel } from '../../policy/daemon-start';

const USAGE = 'usage: tsov-x';

const CHOSEN: ReadonlyArray<[string | undefined, string, string]> = [
  [undefined, 'info', 'info'],
  [undefined, 'debug', 'debug'],
  ['warn', 'info', 'warn'],
  ['debug', 'error', 'debug'],
  ['error', 'debug', 'error'],
];

for (const [argument, policyLevel, expected] of CHOSEN) {
  test(`--log-level ${argument ?? '(none)'} with the policy's ${policyLevel}: ${expected}`, (t) => {
    t.is(chooseLogLevel(argument, policyLevel, USAGE) as string, expected);
  });
}

for (const argument of ['verbose', 'INFO', '', 'info ']) {
  test(`--log-level ${JSON.stringify(argument)} is refused with the levels and the usage`, (t) => {
    const error = t.throws(() => chooseLogLevel(argument, 'info', USAGE), { instanceOf: UsageError });
    t.is(error?.message, '--log-level must be one of error, warn, info, debug');
    t.is(error?.usage, USAGE);
  });
}
