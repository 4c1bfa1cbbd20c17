/**
 * tsov's error vocabulary. Every failure a caller can act on is one of these
 * classes; each carries a code that maps to exactly one gRPC status (see
 * grpc-status.ts) and a message that says what was wrong and what to do.
 */

export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'Unimplemented'
  | 'Internal';

export abstract class TsovError extends Error {
  abstract readonly code: ErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends TsovError {
  readonly code = 'NotFound';
}

export class AlreadyExistsError extends TsovError {
  readonly code = 'AlreadyExists';
}

export class InvalidArgumentError extends TsovError {
  readonly code = 'InvalidArgument';
}

export class FailedPreconditionError extends TsovError {
  readonly code = 'FailedPrecondition';
}

export class PermissionDeniedError extends TsovError {
  readonly code = 'PermissionDenied';
}

export class ResourceExhaustedError extends TsovError {
  readonly code = 'ResourceExhausted';
}

export class UnavailableError extends TsovError {
  readonly code = 'Unavailable';
}

/** A call that got no answer within its time limit: it may still have been carried out. */
export class DeadlineExceededError extends TsovError {
  readonly code = 'DeadlineExceeded';
}

export class UnimplementedError extends TsovError {
  readonly code = 'Unimplemented';
}

export class InternalError extends TsovError {
  readonly code = 'Internal';
}

/** A mistake in how tsov was started or configured: printed, not logged as a crash. */
/**
 * A command line that cannot be run as typed (unknown option, missing value,
 * missing argument): reported as one line with the usage, exit status 2.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** errno of a Node.js system error, or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return undefined;
}

/** errno names, and the codes better-sqlite3 gives SQLite's own failures of the same kind. */
const DISK_FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
const READ_ONLY_ERRNOS = new Set(['EROFS', 'SQLITE_READONLY']);

/**
 * Turns a filesystem error met while changing the snapshot root into tsov's vocabulary,
 * so that a full or read-only disk reaches containerd as ResourceExhausted/Unavailable
 * with the path named, instead of as an anonymous Internal error.
 */
export function classifyFilesystemError(error: unknown, doing: string): TsovError {
  if (error instanceof TsovError) return error;
  const code = errnoCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code !== undefined && DISK_FULL_ERRNOS.has(code)) {
    return new ResourceExhaustedError(`${doing}: no space left (${detail}); free space on the snapshotter root`, { cause: error });
  }
  if (code !== undefined && READ_ONLY_ERRNOS.has(code)) {
    return new UnavailableError(`${doing}: the snapshotter root is read-only (${detail}); remount it read-write`, { cause: error });
  }
  return new InternalError(`${doing}: ${detail}`, { cause: error });
}
