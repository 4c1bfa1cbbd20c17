/**
 * The one place where tsov's errors become gRPC statuses. Unknown errors become
 * Internal with a short message; the caller logs the full error once.
 */
import { status as GrpcStatus, type ServiceError, Metadata } from '@grpc/grpc-js';
import { TsovError, type ErrorCode } from './errors';

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

/** The error object grpc-js sends to the client for a failed call. */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const code = grpcStatusFor(error);
  const details = error instanceof TsovError ? error.message : 'internal error; see the tsov log for details';
  return { code, details, message: details, metadata: new Metadata() };
}
