/**
 * One winston logger per process, created at start and handed down as child
 * loggers with a `component` field. JSON lines for journald and machines; a
 * readable line format when standard error is a terminal.
 */
import winston from 'winston';
import { LOG_LEVELS, type LogLevel, type Logger } from './log-levels';

export { componentLogger, debugEnabled, LOG_LEVELS, type LogLevel, type Logger } from './log-levels';

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
