/**
 * One winston logger per process, created at start and handed down as child
 * loggers with a `component` field. JSON lines for journald and machines; a
 * readable line format when standard error is a terminal.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** Name of the process, e.g. "tsov-snapshotter". */
  process: string;
  /** Human-readable lines instead of JSON; defaults to "stderr is a TTY". */
  human?: boolean;
}

const humanFormat = winston.format.printf((info) => {
  const { level, message, timestamp, component, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `${String(timestamp)} ${String(level).padEnd(5)} [${String(component ?? '-')}] ${String(message)}${extra}`;
});

export function createLogger(options: LoggerOptions): Logger {
  const human = options.human ?? process.stderr.isTTY === true;
  return winston.createLogger({
    level: options.level,
    defaultMeta: { process: options.process },
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      human ? humanFormat : winston.format.json(),
    ),
    // Everything goes to stderr: stdout belongs to command output.
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
}

/**
 * Whether debug lines are written: the logger's level is the lowest of
 * LOG_LEVELS, and its one transport has no level of its own. The same answer
 * as winston's isDebugEnabled(), which builds arrays on every call (2.7 KiB of
 * garbage per 1-worker Snapshots cycle in a sampling heap profile): per-call
 * code asks this instead.
 */
export function debugEnabled(logger: Logger): boolean {
  return logger.level === 'debug';
}

export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
