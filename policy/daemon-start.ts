/**
 * How both daemons start: the stop signal and the SIGHUP handler installed
 * before anything else, the command line (their own options plus --config,
 * --log-level, --metrics-address and --help; argument errors are UsageErrors),
 * then the policy, read in the background (readDaemonPolicy): a daemon that
 * systemd passed a socket takes it and answers the HTTP/2 handshake while the
 * policy reader runs (~0.3 s of a child node process), instead of after it.
 * The daemon's main builds its parts from what these return.
 */
import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine } from '../common/command-line';
import { UsageError } from '../common/errors';
import type { UnixGrpcServer } from '../common/grpc-unix-server';
import { componentLogger, LOG_LEVELS, type Logger, type LogLevel } from '../common/log-levels';
import { answerCallsOnFailure, configFileArgument, listenEarly, stopSignal } from '../common/process-main';
import { takePassedSocket, type PassedSocket } from '../common/socket-activation';
import { DEFAULT_POLICY, type Policy } from './policy-model';
import { readPolicy } from './policy-reader';
import { handleSighup } from './policy-reload';

const COMMON_OPTIONS = {
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-address': { type: 'string' },
  help: { type: 'boolean' },
} as const;

export interface CommonOptions {
  help?: boolean;
  config?: string;
  'log-level'?: string;
  'metrics-address'?: string;
}

/** The log level --log-level names, else the policy's; a name that is not a level is a UsageError. */
export function chooseLogLevel(argument: string | undefined, policyLevel: string, usage: string): LogLevel {
  const level = argument ?? policyLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`, usage);
  return level as LogLevel;
}

/** Returns undefined after printing the usage for --help. Reads no policy (readDaemonPolicy does). */
export function startDaemon<const O extends NonNullable<ParseArgsConfig['options']>>(usage: string, own: O) {
  const stopRequested = stopSignal();
  const onReload = handleSighup(configFileArgument());
  const { values } = parseCommandLine({ options: { ...own, ...COMMON_OPTIONS } }, usage);
  const common = values as CommonOptions;
  if (common.help === true) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  // A bad --log-level is refused before anything starts, not after the policy is read.
  if (common['log-level'] !== undefined) chooseLogLevel(common['log-level'], common['log-level'], usage);
  return { stopRequested, onReload, values, common };
}

/** The --config file's policy (the defaults without one) and the log level in force, or a StartupError/UsageError. */
export async function readDaemonPolicy(common: CommonOptions, usage: string): Promise<{ config: Policy; logLevel: LogLevel }> {
  const config = common.config === undefined ? DEFAULT_POLICY : await readPolicy(common.config);
  return { config, logLevel: chooseLogLevel(common['log-level'], config.logLevel, usage) };
}

/**
 * A daemon's first steps after its command line: the socket systemd passed
 * (if any) is taken (LISTEN_* cleared before anything is spawned) and served
 * at once, its calls held, while the policy is read. winston is loaded only
 * after that (~50 ms), so a connection waiting in the socket gets its
 * handshake first; what the server logs meanwhile is written once the logger
 * exists. The logger runs at --log-level (else info) until the policy is
 * read, and at the policy's level after.
 */
export async function listenThenReadPolicy(
  common: CommonOptions,
  usage: string,
  processName: string,
  createServer: () => UnixGrpcServer,
): Promise<{ passed: PassedSocket | undefined; logger: Logger; server: UnixGrpcServer; config: Policy }> {
  const passed = takePassedSocket();
  const server = createServer();
  await listenEarly(server, passed);
  answerCallsOnFailure(server, processName);
  // The loop's poll phase first: a connection already waiting is accepted and answered.
  if (passed !== undefined) await new Promise((resolve) => setImmediate(resolve));
  const { createLogger } = await import('../common/logger');
  const logger = createLogger({ level: (common['log-level'] ?? 'info') as LogLevel, process: processName });
  server.useLogger(componentLogger(logger, 'grpc'));
  const { config, logLevel } = await readDaemonPolicy(common, usage);
  logger.level = logLevel;
  return { passed, logger, server, config };
}
