/**
 * How both daemons start: the stop signal and the SIGHUP handler installed
 * before anything else, the command line (their own options plus --config,
 * --log-level, --metrics-address and --help; argument errors are UsageErrors),
 * the policy loaded once and the log level chosen. The daemon's main builds
 * its parts from what this returns.
 */
import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine } from '../common/command-line';
import { UsageError } from '../common/errors';
import { LOG_LEVELS, type LogLevel } from '../common/logger';
import { configFileArgument, stopSignal } from '../common/process-main';
import type { Policy } from './policy-model';
import { readPolicySync } from './policy-reader';
import { handleSighup } from './policy-reload';

const COMMON_OPTIONS = {
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-address': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Returns undefined after printing the usage for --help. */
export function startDaemon<const O extends NonNullable<ParseArgsConfig['options']>>(usage: string, own: O) {
  const stopRequested = stopSignal();
  const onReload = handleSighup(configFileArgument());
  const { values } = parseCommandLine({ options: { ...own, ...COMMON_OPTIONS } }, usage);
  const common = values as { help?: boolean; config?: string; 'log-level'?: string; 'metrics-address'?: string };
  if (common.help === true) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  const config: Policy = readPolicySync(common.config);
  const logLevel = (common['log-level'] ?? config.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`, usage);
  return { stopRequested, onReload, values, common, config, logLevel };
}
