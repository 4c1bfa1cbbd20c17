/**
 * The one place where tsov's errors become gRPC statuses. Unknown errors become
 * Internal with a short message; the caller logs the full error once.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
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

const STATUS_BY_CODE: Record<ErrorCode, GrpcStatus> = {
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
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

const CLASS_BY_STATUS = new Map<GrpcStatus, new (message: string) => TsovError>([
  [GrpcStatus.NOT_FOUND, NotFoundError],
  [GrpcStatus.ALREADY_EXISTS, AlreadyExistsError],
  [GrpcStatus.INVALID_ARGUMENT, InvalidArgumentError],
  [GrpcStatus.FAILED_PRECONDITION, FailedPreconditionError],
  [GrpcStatus.PERMISSION_DENIED, PermissionDeniedError],
  [GrpcStatus.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [GrpcStatus.UNAVAILABLE, UnavailableError],
  [GrpcStatus.UNIMPLEMENTED, UnimplementedError],
]);

/** The way back, on the client: a failed call's status as the same error class the server threw. */
export function errorFromStatus(code: GrpcStatus, message: string): TsovError {
  const ErrorClass = CLASS_BY_STATUS.get(code) ?? InternalError;
  return new ErrorClass(message);
}
