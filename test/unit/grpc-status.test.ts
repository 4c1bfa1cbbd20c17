import test from 'ava';
import { status } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  PermissionDeniedError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
  classifyFilesystemError,
} from '../../common/errors';
import { MAX_STATUS_MESSAGE, boundedStatusMessage, grpcStatusFor, statusMessageFor, statusName } from '../../common/grpc-status';

const mapping = [
  [new NotFoundError('x'), status.NOT_FOUND],
  [new AlreadyExistsError('x'), status.ALREADY_EXISTS],
  [new InvalidArgumentError('x'), status.INVALID_ARGUMENT],
  [new FailedPreconditionError('x'), status.FAILED_PRECONDITION],
  [new PermissionDeniedError('x'), status.PERMISSION_DENIED],
  [new ResourceExhaustedError('x'), status.RESOURCE_EXHAUSTED],
  [new UnavailableError('x'), status.UNAVAILABLE],
  [new UnimplementedError('x'), status.UNIMPLEMENTED],
  [new InternalError('x'), status.INTERNAL],
  [new Error('plain'), status.INTERNAL],
  ['a string', status.INTERNAL],
] as const;

for (const [error, expected] of mapping) {
  test(`grpcStatusFor maps ${error instanceof Error ? error.name : typeof error} to ${status[expected]}`, (t) => {
    t.is(grpcStatusFor(error), expected);
  });
}

test('statusMessageFor keeps the message of a tsov error', (t) => {
  const error = new FailedPreconditionError('cannot remove snapshot with child: "p" is a parent');
  t.is(grpcStatusFor(error), status.FAILED_PRECONDITION);
  t.is(statusMessageFor(error), 'cannot remove snapshot with child: "p" is a parent');
});

test('statusMessageFor hides the details of an unknown error', (t) => {
  const error = new Error('SQLITE_CORRUPT at /secret/path');
  t.is(grpcStatusFor(error), status.INTERNAL);
  t.notRegex(statusMessageFor(error), /secret/);
  t.regex(statusMessageFor(error), /see the tsov log/);
});

const errnoError = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

test('classifyFilesystemError: ENOSPC is ResourceExhausted', (t) => {
  const error = classifyFilesystemError(errnoError('ENOSPC'), 'creating snapshot "k"');
  t.true(error instanceof ResourceExhaustedError);
  t.regex(error.message, /^creating snapshot "k": no space left/);
});

test('classifyFilesystemError: EROFS is Unavailable', (t) => {
  t.true(classifyFilesystemError(errnoError('EROFS'), 'x') instanceof UnavailableError);
});

test('classifyFilesystemError: other errno is Internal, tsov errors pass through', (t) => {
  t.true(classifyFilesystemError(errnoError('EIO'), 'x') instanceof InternalError);
  const notFound = new NotFoundError('gone');
  t.is(classifyFilesystemError(notFound, 'x'), notFound);
});

test('status messages are cut to a size an HTTP/2 trailer carries, saying how much was left out', (t) => {
  t.is(boundedStatusMessage('short'), 'short');
  const exact = 'x'.repeat(MAX_STATUS_MESSAGE);
  t.is(boundedStatusMessage(exact), exact);
  const long = boundedStatusMessage('日'.repeat(MAX_STATUS_MESSAGE + 5));
  t.true(long.startsWith('日'.repeat(MAX_STATUS_MESSAGE)));
  t.regex(long, /… \(5 more characters; the full message is in the tsov log\)$/);
  t.is(boundedStatusMessage('a😀b', 2), 'a😀… (1 more characters; the full message is in the tsov log)', 'never splits a surrogate pair');
  const sent = statusMessageFor(new InvalidArgumentError('y'.repeat(100_000)));
  t.true(sent.length < MAX_STATUS_MESSAGE + 100);
});

test('statusName names every code as grpc-js does (the metrics label), and an unknown one by its number', (t) => {
  for (const [name, code] of Object.entries(status).filter(([, code]) => typeof code === 'number')) t.is(statusName(code as number), name);
  t.is(statusName(99), '99');
});
