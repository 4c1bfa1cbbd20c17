/**
 * A unary gRPC client on a unix socket, on tsov's own HTTP/2
 * (http2/client-connection.ts) with gRPC's framing from grpc-wire.ts — the
 * counterpart of grpc-unix-server.ts, for tsov's callers of tsov-helper (the
 * CLI, tsov-runtime, the snapshotter's probe). Loading grpc-js cost a caller
 * ~100 ms and ~3 MiB of resident memory (bench/HISTORY.md); tsov-runtime
 * pays the load on every container it creates with overlays.
 *
 * One connection, opened at the first call and again after it closes or the
 * server sends GOAWAY; calls share it. Messages are (de)serialized by the
 * method definitions proto-loader builds from proto/. A call may have a time
 * limit: it is sent as grpc-timeout, and when it passes with no reply the
 * call's stream is reset (CANCEL) and the call fails with DEADLINE_EXCEEDED,
 * as grpc-js and grpc-go clients do. With waitForReady (gRPC's "wait for
 * ready" call option, grpc-go's WaitForReady(true)), a call that certainly
 * never reached a server — no socket, connection refused, above a GOAWAY's
 * last stream, REFUSED_STREAM — is sent again on a new connection after a
 * pause (retryPauseMs) until its time limit, so that a server restarting
 * (systemctl restart) delays calls instead of failing them. A call the server
 * may have seen is never sent twice. No metadata, compression or streaming:
 * tsov's helper API has none.
 */
import net from 'node:net';
import type { MethodCodec, ServiceCodecs } from './proto-codecs';
import { GrpcStatus as GrpcCode } from './grpc-status';
import { GRPC_CONTENT_TYPE, MESSAGE_PREFIX_BYTES, framedMessage, grpcTimeoutHeader, parseUnaryBody, percentDecodeStatusMessage, statusFromHttp } from './grpc-wire';
import { H2ClientConnection, StreamFailure, type H2Response } from './http2/client-connection';
import { ErrorCode } from './http2/frames';

/** A call that ended with a status other than OK. */
export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** False when the call never reached the server (no connection, refused unprocessed): the status is this client's. */
    readonly reachedServer: boolean,
    /** The server has sent nothing at all on the call's connection, not even its SETTINGS: it accepted the connection and never read it. */
    readonly serverSilent = false,
  ) {
    super(message);
  }
}

export interface UnixGrpcClientOptions {
  /** The largest reply message accepted (grpc-js's grpc.max_receive_message_length). */
  maxReceiveBytes: number;
  /** Each call's time limit in milliseconds; none: a call waits for as long as the server takes. */
  timeoutMs?: number;
  /**
   * Send a call that never reached a server again, until its time limit (which
   * it then needs), instead of failing it at once: for callers a server's
   * restart must not fail. Without it such a call fails with UNAVAILABLE.
   */
  waitForReady?: boolean;
}

/** The pause before sending a call again that reached no server: 50 ms, doubling, at most 1 s. */
export function retryPauseMs(attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  return Math.min(1000, 50 * 2 ** Math.min(attempt - 1, 5));
}

interface Connection {
  h2: H2ClientConnection;
  socket: net.Socket;
  /** Calls in flight: while there are some, the socket keeps the process alive. */
  calls: number;
}

/** A unary call's decoded reply and its trailers (the headers, for a Trailers-Only reply). */
export interface UnaryResult {
  reply: Record<string, unknown>;
  trailers: H2Response['headers'];
}

export class UnixGrpcClient {
  private connection: Connection | undefined;

  constructor(
    readonly socketPath: string,
    private readonly service: ServiceCodecs,
    private readonly options: UnixGrpcClientOptions,
  ) {}

  /** Calls a unary method by name; resolves with the decoded reply, rejects with a GrpcCallError. */
  async unary(methodName: string, request: object): Promise<Record<string, unknown>> {
    return (await this.unaryWithTrailers(methodName, request)).reply;
  }

  /** The same, with the reply's trailers (grpc-status and any metadata the server set there). */
  async unaryWithTrailers(methodName: string, request: object): Promise<UnaryResult> {
    const method = this.service[methodName];
    if (method === undefined || method.requestStream || method.responseStream) throw new Error(`${methodName} is not a unary method of this service`);
    const { timeoutMs, waitForReady = false } = this.options;
    if (waitForReady && timeoutMs === undefined) throw new Error('waitForReady needs a time limit (timeoutMs)');
    const body = framedMessage(method.requestSerialize(request));
    const deadline = timeoutMs === undefined ? undefined : new AbortController();
    const endsAt = performance.now() + (timeoutMs ?? 0);
    // Timers run before the loop reads its sockets: a caller that kept the loop busy past the
    // limit (spawnSync, say) would otherwise drop a reply that is already waiting to be read.
    // The abort waits for this turn's reads (setImmediate runs after them).
    const timer = deadline === undefined ? undefined : setTimeout(() => setImmediate(() => deadline.abort(new Error(`no reply within ${seconds(timeoutMs!)}`))), timeoutMs);
    try {
      for (let attempt = 1; ; attempt++) {
        // The first attempt carries the call's limit; each later one what is left of it.
        const leftMs = timeoutMs === undefined || attempt === 1 ? timeoutMs : Math.max(1, endsAt - performance.now());
        try {
          return await this.attempt(method, body, leftMs, deadline?.signal);
        } catch (error) {
          if (!(waitForReady && error instanceof GrpcCallError && !error.reachedServer) || deadline!.signal.aborted) throw error;
          await pause(retryPauseMs(attempt), deadline!.signal);
          if (deadline!.signal.aborted) {
            throw new GrpcCallError(GrpcCode.DEADLINE_EXCEEDED, `${error.message}; still so after waiting ${seconds(timeoutMs!)} for the server`, false);
          }
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** One sending of a call on the current connection (a new one if it is closed or going away). */
  private async attempt(method: MethodCodec, body: Buffer, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<UnaryResult> {
    const headers: Array<[string, string]> = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', method.path],
      [':authority', 'localhost'],
      ['content-type', GRPC_CONTENT_TYPE],
      ['te', 'trailers'],
    ];
    if (timeoutMs !== undefined) headers.push(['grpc-timeout', grpcTimeoutHeader(timeoutMs)]);
    const connection = this.connect();
    connection.calls++;
    connection.socket.ref();
    let response: H2Response;
    try {
      response = await connection.h2.request(headers, body, MESSAGE_PREFIX_BYTES + this.options.maxReceiveBytes, signal);
    } catch (error) {
      if (!(error instanceof StreamFailure)) throw error;
      if (error.kind === 'cancelled' && signal?.aborted === true) {
        throw new GrpcCallError(GrpcCode.DEADLINE_EXCEEDED, error.message, true, connection.socket.bytesRead === 0);
      }
      throw new GrpcCallError(statusOfFailure(error), error.message, error.reachedServer);
    } finally {
      if (--connection.calls === 0) connection.socket.unref();
    }
    const message = replyMessage(response, this.options.maxReceiveBytes);
    return { reply: method.responseDeserialize(message) as Record<string, unknown>, trailers: response.trailers ?? response.headers };
  }

  close(): void {
    this.connection?.h2.close();
    this.connection = undefined;
  }

  private connect(): Connection {
    if (this.connection?.h2.usable === true) return this.connection;
    const socket = net.connect(this.socketPath);
    // A connection with no call in flight does not keep the process alive.
    socket.unref();
    this.connection = { h2: new H2ClientConnection(socket), socket, calls: 0 };
    return this.connection;
  }
}

/**
 * The status of a call that failed below gRPC, as grpc-js reports it: no
 * connection or a lost one UNAVAILABLE, an RST_STREAM CANCEL CANCELLED and
 * any other INTERNAL (its call stream's mapping), a reply over the limit
 * RESOURCE_EXHAUSTED, a protocol violation INTERNAL, a call its caller
 * cancelled CANCELLED (unary() turns a call cancelled by its own time limit
 * into DEADLINE_EXCEEDED).
 */
export function statusOfFailure(failure: StreamFailure): number {
  switch (failure.kind) {
    case 'unprocessed':
    case 'connection-lost':
      return GrpcCode.UNAVAILABLE;
    case 'reset':
      return failure.resetCode === ErrorCode.CANCEL ? GrpcCode.CANCELLED : GrpcCode.INTERNAL;
    case 'cancelled':
      return GrpcCode.CANCELLED;
    case 'too-large':
      return GrpcCode.RESOURCE_EXHAUSTED;
    case 'protocol':
      return GrpcCode.INTERNAL;
  }
}

/** The reply message of a complete response, or the GrpcCallError its status (or a malformed body) says. */
export function replyMessage(response: H2Response, maxBytes: number): Buffer {
  const httpStatus = Number(response.headers.get(':status'));
  if (httpStatus !== 200) throw new GrpcCallError(statusFromHttp(httpStatus), `the server answered HTTP ${response.headers.get(':status') ?? '(no :status)'}`, true);
  // Trailers-Only: the status is in the headers.
  const status = response.trailers ?? response.headers;
  const code = status.get('grpc-status');
  if (code === undefined || !/^\d+$/.test(code)) throw new GrpcCallError(GrpcCode.UNKNOWN, `the reply has no grpc-status${code === undefined ? '' : ` (got ${JSON.stringify(code)})`}`, true);
  if (Number(code) !== GrpcCode.OK) throw new GrpcCallError(Number(code), percentDecodeStatusMessage(status.get('grpc-message') ?? ''), true);
  if (!(response.headers.get('content-type') ?? '').startsWith(GRPC_CONTENT_TYPE)) {
    throw new GrpcCallError(GrpcCode.UNKNOWN, `the reply's content-type is ${JSON.stringify(response.headers.get('content-type') ?? '')}, not ${GRPC_CONTENT_TYPE}`, true);
  }
  const body = parseUnaryBody(response.body, maxBytes, 'reply');
  if (!body.ok) throw new GrpcCallError(body.code, body.reason, true);
  return body.message;
}

/** Resolves after ms, or as soon as signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** 30000 → "30 s", 250 → "0.25 s". */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
