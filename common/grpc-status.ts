/**
 * The one place where tsov's errors become gRPC statuses. Unknown errors become
 * Internal with a short message; the caller logs the full error once.
 */
import type { status as GrpcJsStatus } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  TsovError,
  UnavailableError,
  UnimplementedError,
  type ErrorCode,
} from './errors';

/**
 * gRPC's status codes (grpc/grpc doc/statuscodes.md), the numbers grpc-js's
 * `status` enum holds; written out so that the servers need not load grpc-js.
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const satisfies Record<keyof typeof GrpcJsStatus, GrpcJsStatus>;

export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const STATUS_NAMES = new Map<number, string>(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

/** A code's name, e.g. 5 → "NOT_FOUND" (for metrics). */
export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? String(code);
}

const STATUS_BY_CODE: Record<ErrorCode, GrpcStatus> = {
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Internal: GrpcStatus.INTERNAL,
};

export function grpcStatusFor(error: unknown): GrpcStatus {
  return error instanceof TsovError ? STATUS_BY_CODE[error.code] : GrpcStatus.INTERNAL;
}

/**
 * The status message travels percent-encoded in an HTTP/2 trailer; a trailer
 * larger than the peer's header-list limit loses the whole call (the client
 * never sees a status). Messages are cut to this many characters.
 */
export const MAX_STATUS_MESSAGE = 2048;

/** `text` cut to `max` characters, saying how much was left out; the full text goes to the log. */
export function boundedStatusMessage(text: string, max = MAX_STATUS_MESSAGE): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const cut = chars.slice(0, max).join('');
  return `${cut}… (${chars.length - max} more characters; the full message is in the tsov log)`;
}

/** The status message a failed call sends: a tsov error's own (bounded), nothing of an unexpected one. */
export function statusMessageFor(error: unknown): string {
  return error instanceof TsovError ? boundedStatusMessage(error.message) : 'internal error; see the tsov log for details';
}

const CLASS_BY_STATUS = new Map<number, new (message: string) => TsovError>([
  [GrpcStatus.NOT_FOUND, NotFoundError],
  [GrpcStatus.ALREADY_EXISTS, AlreadyExistsError],
  [GrpcStatus.INVALID_ARGUMENT, InvalidArgumentError],
  [GrpcStatus.FAILED_PRECONDITION, FailedPreconditionError],
  [GrpcStatus.PERMISSION_DENIED, PermissionDeniedError],
  [GrpcStatus.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [GrpcStatus.UNAVAILABLE, UnavailableError],
  [GrpcStatus.DEADLINE_EXCEEDED, DeadlineExceededError],
  [GrpcStatus.UNIMPLEMENTED, UnimplementedError],
]);

/** The way back, on the client: a failed call's status as the same error class the server threw. */
export function errorFromStatus(code: number, message: string): TsovError {
  const ErrorClass = CLASS_BY_STATUS.get(code) ?? InternalError;
  return new ErrorClass(message);
}
