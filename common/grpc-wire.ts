/**
 * gRPC over HTTP/2, the parts a server needs, as pure functions: the
 * length-prefixed message framing and the status headers. The protocol is
 * grpc/grpc's doc/PROTOCOL-HTTP2.md: every message is a 1-byte compressed
 * flag, a 4-byte big-endian length and the protobuf bytes; a call ends with
 * trailers carrying grpc-status and a percent-encoded grpc-message, or, when
 * nothing was sent, with one HEADERS frame holding both ("Trailers-Only").
 * The HTTP/2 under it is tsov's own (http2/connection.ts).
 */
import { GrpcStatus as GrpcCode } from './grpc-status';

/** The prefix before each message: compressed flag (1 byte) + length (4 bytes). */
export const MESSAGE_PREFIX_BYTES = 5;

/** The content type of every gRPC request and response. */
export const GRPC_CONTENT_TYPE = 'application/grpc';

/** One message of a request body, or why the body is not one message. */
export type ParsedBody = { ok: true; message: Buffer } | { ok: false; code: number; reason: string };

/**
 * The one message of a unary or server-streaming request body (or, on the
 * client, of a unary reply: what = 'reply'). Refused: a compressed message (no
 * grpc-accept-encoding is advertised, so the peer never sends one — the
 * protocol's answer is UNIMPLEMENTED), a body that is cut short (INTERNAL) or
 * holds a second message (UNIMPLEMENTED), and a message over maxBytes
 * (RESOURCE_EXHAUSTED, with grpc-js's wording).
 */
export function parseUnaryBody(body: Buffer, maxBytes: number, what: 'request' | 'reply' = 'request'): ParsedBody {
  if (body.length < MESSAGE_PREFIX_BYTES) {
    return { ok: false, code: GrpcCode.INTERNAL, reason: body.length === 0 ? `the ${what} has no message` : `the ${what} ends inside a message prefix` };
  }
  const compressed = body[0]!;
  const length = body.readUInt32BE(1);
  if (compressed !== 0) {
    return { ok: false, code: GrpcCode.UNIMPLEMENTED, reason: compressed === 1 ? 'compressed messages are not accepted (no grpc-accept-encoding was offered)' : `invalid compressed flag ${compressed}` };
  }
  if (length > maxBytes) return messageTooLarge(length, maxBytes);
  const end = MESSAGE_PREFIX_BYTES + length;
  if (body.length < end) return { ok: false, code: GrpcCode.INTERNAL, reason: `the ${what} ends inside a message` };
  if (body.length > end) return { ok: false, code: GrpcCode.UNIMPLEMENTED, reason: `more than one ${what} message for a method that has one` };
  return { ok: true, message: body.subarray(MESSAGE_PREFIX_BYTES, end) };
}

/**
 * A request message of length bytes is over maxBytes: RESOURCE_EXHAUSTED, with
 * grpc-js's wording. Also what a server says when a body grows past the limit
 * before its prefix has been checked.
 */
export function messageTooLarge(length: number, maxBytes: number): ParsedBody & { ok: false } {
  return { ok: false, code: GrpcCode.RESOURCE_EXHAUSTED, reason: `Received message larger than max (${length} vs ${maxBytes})` };
}

/** payload with its message prefix (uncompressed). */
export function framedMessage(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, MESSAGE_PREFIX_BYTES);
  return frame;
}

/**
 * grpc-message's encoding: the UTF-8 bytes, with every byte outside
 * printable ASCII (0x20–0x7E) and '%' itself written %XX (PROTOCOL-HTTP2.md,
 * "Percent-Encoded"). Clients decode it back; an unencoded newline would end
 * the header.
 */
export function percentEncodeStatusMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * grpc-message as a client reads it: %XX sequences back to their bytes, the
 * bytes as UTF-8. A '%' not followed by two hex digits stays as it is, and
 * decoding never fails (as grpc-go's decodeGrpcMessageUnchecked).
 */
export function percentDecodeStatusMessage(encoded: string): string {
  if (!encoded.includes('%')) return encoded;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const hex = encoded.slice(i + 1, i + 3);
    if (encoded[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(encoded[i]!, 'latin1'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The status of a response whose HTTP status is not 200 (PROTOCOL-HTTP2.md,
 * "HTTP to gRPC Status Code Mapping"; grpc/grpc doc/http-grpc-status-mapping.md).
 */
export function statusFromHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

/** The status as trailers (or the status part of a Trailers-Only response). */
export function statusTrailers(code: number, message: string): Record<string, string> {
  return code === GrpcCode.OK ? { 'grpc-status': '0' } : { 'grpc-status': String(code), 'grpc-message': percentEncodeStatusMessage(message) };
}

/** Every TimeoutUnit a grpc-timeout header may carry, in milliseconds (PROTOCOL-HTTP2.md). */
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** The units of a grpc-timeout header tsov writes, smallest first, in milliseconds. */
const TIMEOUT_UNITS = (['m', 'S', 'M', 'H'] as const).map((unit) => [unit, TIMEOUT_UNIT_MS[unit]!] as const);

/** A grpc-timeout TimeoutValue has at most 8 digits (PROTOCOL-HTTP2.md, "Requests"). */
const MAX_TIMEOUT_VALUE = 99_999_999;

/**
 * The grpc-timeout header for a call that gives up after ms milliseconds:
 * the value, rounded up, in the smallest unit that holds it in 8 digits
 * (PROTOCOL-HTTP2.md: Timeout → TimeoutValue TimeoutUnit; rounded up as
 * grpc-go's internal/grpcutil/encode_duration.go EncodeDuration and
 * grpc-js's deadline.ts getDeadlineTimeoutString do, so the server never
 * gives up before the client).
 */
export function grpcTimeoutHeader(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`a call timeout must be a positive number of milliseconds, not ${ms}`);
  for (const [unit, factor] of TIMEOUT_UNITS) {
    const value = Math.ceil(ms / factor);
    if (value <= MAX_TIMEOUT_VALUE) return `${value}${unit}`;
  }
  throw new RangeError(`a call timeout of ${ms} ms is longer than grpc-timeout can say (${MAX_TIMEOUT_VALUE} hours)`);
}

/**
 * A grpc-timeout header's time limit in milliseconds; undefined when it is
 * malformed (grpc-go's server then fails the call: internal/transport
 * http_util.go decodeTimeout). 1 to 8 digits and one unit, nothing else.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^([0-9]{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]!;
}
