/**
 * What code that logs needs without loading winston (common/logger.ts loads
 * it, ~50 ms at start): the levels, the Logger type, child loggers, and the
 * per-call debug check. A daemon that systemd passed a socket answers the
 * HTTP/2 handshake before winston is loaded (policy/daemon-start.ts).
 */
import type winston from 'winston';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Whether debug lines are written: the logger's level is the lowest of
 * LOG_LEVELS, and its one transport has no level of its own. The same answer
 * as winston's isDebugEnabled(), which builds arrays on every call (2.7 KiB of
 * garbage per 1-worker Snapshots cycle in a sampling heap profile): per-call
 * code asks this instead.
 */
export function debugEnabled(logger: Pick<Logger, 'level'>): boolean {
  return logger.level === 'debug';
}

export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
