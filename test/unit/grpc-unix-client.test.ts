/**
 * The pure decisions of tsov's gRPC client (common/grpc-unix-client.ts): the
 * status of a call that failed below gRPC — as grpc-js reports it (its call
 * stream maps RST_STREAM CANCEL to CANCELLED and other codes to INTERNAL, a
 * lost or absent connection to UNAVAILABLE) — and the reply's status, read
 * from the trailers or, in a Trailers-Only response, the headers; and the
 * pause before a call that reached no server is sent again (waitForReady).
 */
import test from 'ava';
import { GrpcStatus } from '../../common/grpc-status';
import { framedMessage } from '../../common/grpc-wire';
import { GrpcCallError, replyMessage, retryPauseMs, statusOfFailure } from '../../common/grpc-unix-client';
import { StreamFailure } from '../../common/http2/client-connection';
import { ErrorCode } from '../../common/http2/frames';

test('statusOfFailure: each kind of failure below gRPC, and whether it may be sent again', (t) => {
  const rows: Array<[StreamFailure, number, boolean]> = [
    [new StreamFailure('connect ENOENT /x', 'unprocessed'), GrpcStatus.UNAVAILABLE, false],
    [new StreamFailure('refused', 'unprocessed', ErrorCode.REFUSED_STREAM), GrpcStatus.UNAVAILABLE, false],
    [new StreamFailure('closed', 'connection-lost'), GrpcStatus.UNAVAILABLE, true],
    [new StreamFailure('cancel', 'reset', ErrorCode.CANCEL), GrpcStatus.CANCELLED, true],
    [new StreamFailure('internal', 'reset', ErrorCode.INTERNAL_ERROR), GrpcStatus.INTERNAL, true],
    [new StreamFailure('big', 'too-large'), GrpcStatus.RESOURCE_EXHAUSTED, true],
    [new StreamFailure('bad', 'protocol'), GrpcStatus.INTERNAL, true],
    [new StreamFailure('no reply within 1 s', 'cancelled'), GrpcStatus.CANCELLED, true],
  ];
  for (const [failure, status, reached] of rows) {
    t.is(statusOfFailure(failure), status, failure.message);
    t.is(failure.reachedServer, reached, failure.message);
  }
});

const headers = (fields: Record<string, string>) => new Map(Object.entries(fields));
const OK_HEADERS = { ':status': '200', 'content-type': 'application/grpc' };

test('replyMessage: the message of an OK reply; a status from the trailers or a Trailers-Only response; HTTP errors mapped', (t) => {
  t.is(replyMessage({ headers: headers(OK_HEADERS), body: framedMessage(Buffer.from('m')), trailers: headers({ 'grpc-status': '0' }) }, 100).toString(), 'm');
  const failures: Array<[Parameters<typeof replyMessage>[0], number, string]> = [
    [{ headers: headers(OK_HEADERS), body: Buffer.alloc(0), trailers: headers({ 'grpc-status': '5', 'grpc-message': 'no %E2%9C%93' }) }, GrpcStatus.NOT_FOUND, 'no ✓'],
    [{ headers: headers({ ...OK_HEADERS, 'grpc-status': '9', 'grpc-message': 'busy' }), body: Buffer.alloc(0), trailers: undefined }, GrpcStatus.FAILED_PRECONDITION, 'busy'],
    [{ headers: headers({ ':status': '503' }), body: Buffer.alloc(0), trailers: undefined }, GrpcStatus.UNAVAILABLE, 'the server answered HTTP 503'],
    [{ headers: headers(OK_HEADERS), body: Buffer.alloc(0), trailers: headers({}) }, GrpcStatus.UNKNOWN, 'the reply has no grpc-status'],
    [{ headers: headers({ ':status': '200', 'content-type': 'text/html' }), body: Buffer.alloc(0), trailers: headers({ 'grpc-status': '0' }) }, GrpcStatus.UNKNOWN, 'the reply\'s content-type is "text/html", not application/grpc'],
    [{ headers: headers(OK_HEADERS), body: Buffer.alloc(0), trailers: headers({ 'grpc-status': '0' }) }, GrpcStatus.INTERNAL, 'the reply has no message'],
  ];
  for (const [response, code, message] of failures) {
    const error = t.throws(() => replyMessage(response, 100), { instanceOf: GrpcCallError });
    t.is(error?.code, code, message);
    t.is(error?.message, message);
  }
});

test('retryPauseMs: 50 ms, doubling, at most 1 s; attempts count from 1', (t) => {
  const rows: Array<[number, number]> = [
    [1, 50],
    [2, 100],
    [3, 200],
    [4, 400],
    [5, 800],
    [6, 1000],
    [7, 1000],
    [1_000_000, 1000],
  ];
  for (const [attempt, ms] of rows) t.is(retryPauseMs(attempt), ms, `attempt ${attempt}`);
  // The pauses of a 30-s limit: five in its first 1.55 s (a helper's restart), then one a second.
  let spent = 0;
  let attempts = 0;
  while (spent < 30_000) spent += retryPauseMs(++attempts);
  t.is(attempts, 34);
  for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => retryPauseMs(bad), { instanceOf: RangeError }, String(bad));
});
