/**
 * The frame every tsov executable runs in: a stop signal promise installed
 * before anything else (an early SIGTERM still shuts down cleanly), and one
 * place that turns a thrown error into a one-line message and an exit status.
 */
import { StartupError, TsovError } from './errors';
import type { Logger } from './logger';

/** Resolves with the first SIGTERM/SIGINT. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** Writes everything the logger still holds before the process exits. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    logger.on('finish', resolve);
    logger.end();
  });
}

/**
 * Runs main and exits: with main's number if it returns one, else 0; with 1 and
 * "name: message" on stderr when it throws (a stack only for unexpected errors).
 */
export function runMain(name: string, main: () => Promise<number | void>): void {
  main().then(
    (status) => process.exit(typeof status === 'number' ? status : 0),
    (error: unknown) => {
      const known = error instanceof StartupError || error instanceof TsovError;
      const text = error instanceof Error ? (known ? error.message : (error.stack ?? error.message)) : String(error);
      process.stderr.write(`${name}: ${text}\n`);
      process.exit(1);
    },
  );
}
