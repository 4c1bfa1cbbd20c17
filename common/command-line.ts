/**
 * node:util parseArgs, with its errors (unknown option, missing value,
 * unexpected argument) turned into a UsageError that runMain prints as one
 * line with the usage and exit status 2 — never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors';

/** parseArgs's own error codes (ERR_PARSE_ARGS_*). */
function isParseArgsError(error: unknown): error is Error {
  const code: unknown = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** The first sentence of parseArgs's message ("Unknown option '--x'. To specify ..." → "Unknown option '--x'"). Pure. */
export function shortParseMessage(message: string): string {
  const end = message.indexOf('. ');
  return (end === -1 ? message : message.slice(0, end)).replace(/\.$/, '');
}

export function parseCommandLine<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(shortParseMessage(error.message), usage);
    throw error;
  }
}
