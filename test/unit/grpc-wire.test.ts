/**
 * gRPC framing and status headers as grpc/grpc's doc/PROTOCOL-HTTP2.md
 * defines them ("Length-Prefixed-Message", "Status-Message ...
 * Percent-Encoded"). The expected encodings follow grpc-go's
 * internal/transport/http_util.go encodeGrpcMessage (bytes ' '..'~' except
 * '%' pass, every other byte of the UTF-8 is %XX in upper case), which is
 * what containerd's client decodes with decodeGrpcMessage.
 */
import test from 'ava';
import { GrpcStatus as GrpcCode } from '../../common/grpc-status';
import { framedMessage, grpcTimeoutHeader, parseGrpcTimeout, parseUnaryBody, percentDecodeStatusMessage, percentEncodeStatusMessage, statusFromHttp, statusTrailers } from '../../common/grpc-wire';

const frame = (flag: number, length: number, payload: Buffer) => Buffer.concat([Buffer.from([flag, length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255]), payload]);

test('framedMessage: a zero flag, the big-endian length, the bytes', (t) => {
  t.deepEqual(framedMessage(Buffer.from('abc')), Buffer.from([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]));
  t.deepEqual(framedMessage(Buffer.alloc(0)), Buffer.from([0, 0, 0, 0, 0]));
  const big = framedMessage(Buffer.alloc(70_000, 7));
  t.is(big.readUInt32BE(1), 70_000);
  t.is(big.length, 70_005);
});

const bodies: Array<[string, Buffer, number, { message?: string; code?: number; reason?: RegExp }]> = [
  ['one message', frame(0, 3, Buffer.from('abc')), 100, { message: 'abc' }],
  ['an empty message (every field default)', frame(0, 0, Buffer.alloc(0)), 100, { message: '' }],
  ['no body at all', Buffer.alloc(0), 100, { code: GrpcCode.INTERNAL, reason: /no message/ }],
  ['a cut prefix', Buffer.from([0, 0, 0]), 100, { code: GrpcCode.INTERNAL, reason: /inside a message prefix/ }],
  ['a cut message', frame(0, 10, Buffer.from('abc')), 100, { code: GrpcCode.INTERNAL, reason: /ends inside a message/ }],
  ['two messages', Buffer.concat([frame(0, 1, Buffer.from('a')), frame(0, 1, Buffer.from('b'))]), 100, { code: GrpcCode.UNIMPLEMENTED, reason: /more than one/ }],
  ['a compressed message', frame(1, 3, Buffer.from('abc')), 100, { code: GrpcCode.UNIMPLEMENTED, reason: /compressed messages are not accepted/ }],
  ['a bad flag', frame(2, 3, Buffer.from('abc')), 100, { code: GrpcCode.UNIMPLEMENTED, reason: /invalid compressed flag 2/ }],
  ['a message over the limit (by its prefix, before its bytes arrive)', frame(0, 101, Buffer.alloc(0)), 100, { code: GrpcCode.RESOURCE_EXHAUSTED, reason: /larger than max \(101 vs 100\)/ }],
  ['a message at the limit', frame(0, 100, Buffer.alloc(100, 1)), 100, { message: '\x01'.repeat(100) }],
];

for (const [name, body, max, expected] of bodies) {
  test(`parseUnaryBody: ${name}`, (t) => {
    const parsed = parseUnaryBody(body, max);
    if (expected.message !== undefined) {
      t.true(parsed.ok);
      if (parsed.ok) t.is(parsed.message.toString('latin1'), expected.message);
    } else {
      t.false(parsed.ok);
      if (!parsed.ok) {
        t.is(parsed.code, expected.code!);
        t.regex(parsed.reason, expected.reason!);
      }
    }
  });
}

const messages: Array<[string, string]> = [
  ['snapshot "k" does not exist', 'snapshot "k" does not exist'],
  ['100% full', '100%25 full'],
  ['line one\nline two', 'line one%0Aline two'],
  ['tab\there', 'tab%09here'],
  ['日本', '%E6%97%A5%E6%9C%AC'],
  ['\x7f', '%7F'],
  ['a lone surrogate \ud800', 'a lone surrogate %EF%BF%BD'],
  ['~ and space', '~ and space'],
  ['', ''],
];

for (const [input, encoded] of messages) {
  test(`percentEncodeStatusMessage(${JSON.stringify(input)})`, (t) => {
    t.is(percentEncodeStatusMessage(input), encoded);
    t.is(decodeURIComponent(encoded), Buffer.from(input, 'utf8').toString('utf8'), 'decodes back to the same text (a lone surrogate as U+FFFD, as Go replaces invalid UTF-8)');
  });
}

test('statusTrailers: OK carries no message; an error carries its encoded message', (t) => {
  t.deepEqual(statusTrailers(GrpcCode.OK, 'ignored'), { 'grpc-status': '0' });
  t.deepEqual(statusTrailers(5, 'a\nb'), { 'grpc-status': '5', 'grpc-message': 'a%0Ab' });
});

test('percentDecodeStatusMessage: the encoder undone, byte for byte, whatever the text', (t) => {
  for (const message of ['plain', '', '100% sure', 'line one\nline two', 'tab\there', 'ünïcödé ✓ 🙂', '%%%', '\u0000\u007f\u0080', 'a\r\nb']) {
    t.is(percentDecodeStatusMessage(percentEncodeStatusMessage(message)), message, JSON.stringify(message));
  }
});

// As grpc-go's client decodes (internal/transport/http_util.go, decodeGrpcMessageUnchecked): a '%'
// not followed by two hex digits is kept as a byte, and decoding never fails.
test("percentDecodeStatusMessage: a '%' without two hex digits after it stays as it is", (t) => {
  const rows: Array<[string, string]> = [
    ['50%', '50%'],
    ['%4', '%4'],
    ['%zz then %41', '%zz then A'],
    ['%e2%9c%93', '✓'],
    ['%E2%9C', '\ufffd'], // a cut UTF-8 sequence: the replacement character, as TextDecoder gives it
  ];
  for (const [encoded, decoded] of rows) t.is(percentDecodeStatusMessage(encoded), decoded, encoded);
});

test('statusFromHttp: the HTTP-to-gRPC table of PROTOCOL-HTTP2.md', (t) => {
  const rows: Array<[number, number]> = [
    [400, GrpcCode.INTERNAL],
    [401, GrpcCode.UNAUTHENTICATED],
    [403, GrpcCode.PERMISSION_DENIED],
    [404, GrpcCode.UNIMPLEMENTED],
    [415, GrpcCode.UNKNOWN],
    [429, GrpcCode.UNAVAILABLE],
    [502, GrpcCode.UNAVAILABLE],
    [503, GrpcCode.UNAVAILABLE],
    [504, GrpcCode.UNAVAILABLE],
    [500, GrpcCode.UNKNOWN],
  ];
  for (const [http, grpc] of rows) t.is(statusFromHttp(http), grpc, String(http));
});

test('parseUnaryBody for a reply names the reply', (t) => {
  t.deepEqual(parseUnaryBody(Buffer.alloc(0), 100, 'reply'), { ok: false, code: GrpcCode.INTERNAL, reason: 'the reply has no message' });
  t.deepEqual(parseUnaryBody(Buffer.concat([framedMessage(Buffer.from('a')), framedMessage(Buffer.from('b'))]), 100, 'reply'), {
    ok: false,
    code: GrpcCode.UNIMPLEMENTED,
    reason: 'more than one reply message for a method that has one',
  });
});

/**
 * How a server reads grpc-timeout: grpc-js's server-interceptors.ts
 * (DEADLINE_REGEX and deadlineUnitsToMs); grpc-go's http_util.go
 * decodeTimeout takes the same TimeoutValue (1-8 digits) and TimeoutUnit.
 */
const SERVER_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

test('grpcTimeoutHeader: the smallest unit that holds the value in 8 digits, rounded up; never shorter than asked', (t) => {
  const rows: Array<[number, string]> = [
    [1, '1m'],
    [0.4, '1m'],
    [1000, '1000m'],
    [30_000, '30000m'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [100_000_000.5, '100001S'],
    [99_999_999_000, '99999999S'],
    [99_999_999_001, '1666667M'],
    [5_999_999_940_000, '99999999M'],
    [5_999_999_940_001, '1666667H'],
  ];
  for (const [ms, header] of rows) {
    t.is(grpcTimeoutHeader(ms), header, `${ms} ms`);
    const [, value, unit] = SERVER_TIMEOUT.exec(header) ?? [];
    t.true(value !== undefined && Number(value) * UNIT_MS[unit!]! >= ms, `${header} is read as at least ${ms} ms`);
  }
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 360_000_000_000_000]) t.throws(() => grpcTimeoutHeader(bad), { instanceOf: RangeError }, String(bad));
});

test('parseGrpcTimeout: 1 to 8 digits and a unit, in milliseconds; what tsov sends reads back as at least the time asked; anything else is malformed', (t) => {
  const rows: Array<[string, number]> = [
    ['1000m', 1000],
    ['30S', 30_000],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['1500u', 1.5],
    ['1n', 0.000_001],
    ['0m', 0],
    ['99999999H', 99_999_999 * 3_600_000],
    ['00000001S', 1000],
  ];
  for (const [value, ms] of rows) t.is(parseGrpcTimeout(value), ms, value);
  for (const ms of [1, 999, 1000, 1001, 30_000, 3_600_000, 0.5]) t.true(parseGrpcTimeout(grpcTimeoutHeader(ms))! >= ms, `${ms} ms → ${grpcTimeoutHeader(ms)}`);
  // grpc-go's decodeTimeout also takes a sign (strconv.ParseInt): tsov does not.
  for (const bad of ['', 'm', '5', '5x', '5s', '123456789m', ' 5m', '5m ', '+5m', '-5m', '5.0S', '5mm', '\u0665m']) t.is(parseGrpcTimeout(bad), undefined, JSON.stringify(bad));
});
