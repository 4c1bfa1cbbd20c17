/**
 * A gRPC server on a unix socket with what every tsov service needs at its
 * edge: a request id and a child logger per call, one error→status mapping,
 * and a shutdown that lets in-flight calls finish.
 *
 * The transport is tsov's own HTTP/2 (http2/connection.ts) with gRPC's
 * framing done here (grpc-wire.ts), not grpc-js's Server nor node:http2:
 * tsov serves only unary and server-streaming calls without compression,
 * deadlines or interceptors, and a reply — headers, messages, trailers — goes
 * out in one write (node:http2 sent the trailers a loop turn later and cost
 * three times the CPU per call; bench/HISTORY.md). Messages are still
 * (de)serialized by the method definitions proto-loader builds from proto/,
 * and clients are grpc-js's and grpc-go's, tested against this server.
 */
import net from 'node:net';
import type { ServiceCodecs } from './proto-codecs';
import { NotFoundError, StartupError, TsovError } from './errors';
import { HEALTH_CHECK_PATH, HEALTH_REASON_TRAILER, encodeHealthReason, healthAnswer, healthServiceCodecs, type ServerPhase } from './grpc-health';
import { GrpcStatus as GrpcCode, grpcStatusFor, statusMessageFor, statusName } from './grpc-status';
import { GRPC_CONTENT_TYPE, MESSAGE_PREFIX_BYTES, framedMessage, messageTooLarge, parseGrpcTimeout, parseUnaryBody, statusTrailers } from './grpc-wire';
import { H2ServerConnection, type H2ServerStream } from './http2/connection';
import { encodeHeaderBlock, type HeaderField } from './http2/hpack';
import { debugEnabled, type Logger } from './log-levels';

export type WireRequest = Record<string, unknown>;

/** Called once per finished call (for metrics). */
export type CallObserver = (method: string, code: string, seconds: number) => void;

/**
 * What a method does with a decoded request: one reply (unary) or the
 * messages of a stream. deadline: when the caller gives up (its grpc-timeout
 * from the call's arrival, on performance.now()'s clock), if it said.
 */
export type MethodHandler =
  | { kind: 'unary'; handle: (request: WireRequest, deadline: number | undefined) => unknown }
  | { kind: 'stream'; handle: (request: WireRequest, deadline: number | undefined) => unknown[] };

/** A unary handler: the reply (or a thrown TsovError) goes back to the caller. */
export function unary(handle: (request: WireRequest, deadline: number | undefined) => unknown): MethodHandler {
  return { kind: 'unary', handle };
}

/**
 * A unary reply with custom metadata in its trailers (after the message,
 * beside grpc-status), as grpc-go's grpc.SetTrailer sends it: a handler
 * returns one instead of the bare reply.
 */
export class ReplyWithTrailers {
  constructor(
    readonly reply: unknown,
    readonly trailers: readonly HeaderField[],
  ) {}
}

/** A server-streaming handler that sends the messages it returns. */
export function serverStream(handle: (request: WireRequest) => unknown[]): MethodHandler {
  return { kind: 'stream', handle };
}

export interface UnixGrpcServerOptions {
  /** Where calls are logged; without one, lines wait for useLogger (a daemon listening before it has made its logger). */
  logger?: Logger;
  maxReceiveBytes?: number;
  /** Field of the request named in log lines, e.g. "key". */
  logField?: string;
  /** Told about every finished call (metrics). */
  observer?: CallObserver;
  /** How long a new connection has for its HTTP/2 handshake (connection.ts, HANDSHAKE_TIMEOUT_MS unless set). */
  handshakeTimeoutMs?: number;
  /** MAX_BUFFERED_REQUEST_BYTES unless set (tests). */
  maxBufferedRequestBytes?: number;
}

/**
 * Request bodies the server holds, across every connection, before their
 * calls can start (bodies still arriving, and those of calls held while a
 * daemon starts). Each call's body is bounded by maxReceiveBytes, but a
 * client could open a thousand calls per connection and finish none; a body
 * that would take the total past this is refused (RESOURCE_EXHAUSTED). tsov's
 * requests are a few KiB (a Mount of hundreds of layers: tens of KiB).
 */
export const MAX_BUFFERED_REQUEST_BYTES = 64 * 1024 * 1024;

type LogLevelName = 'error' | 'warn' | 'info' | 'debug';

/** What a server logs before it has a logger: kept, and written by useLogger. */
class EarlyLines {
  readonly lines: Array<[LogLevelName, string, object | undefined]> = [];
  readonly level = 'info';
  error(message: string, meta?: object) {
    this.lines.push(['error', message, meta]);
  }
  warn(message: string, meta?: object) {
    this.lines.push(['warn', message, meta]);
  }
  info(message: string, meta?: object) {
    this.lines.push(['info', message, meta]);
  }
  debug(message: string, meta?: object) {
    this.lines.push(['debug', message, meta]);
  }
}

interface Method {
  name: string;
  decode: (bytes: Buffer) => WireRequest;
  /** A Buffer reply is sent as it is (already encoded). */
  encode: (reply: unknown) => Buffer;
  handler: MethodHandler;
}

const RESPONSE_HEADERS: readonly HeaderField[] = [
  [':status', '200'],
  ['content-type', GRPC_CONTENT_TYPE],
];

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function statusFields(code: number, message: string): HeaderField[] {
  return Object.entries(statusTrailers(code, message));
}

/*
 * Every successful reply's headers and trailers, encoded once: tsov's HPACK
 * encoder keeps no dynamic table (hpack.ts), so a header list is always the
 * same bytes.
 */
const RESPONSE_HEADER_BLOCK = encodeHeaderBlock(RESPONSE_HEADERS);
const OK_TRAILER_BLOCK = encodeHeaderBlock(statusFields(GrpcCode.OK, ''));

export class UnixGrpcServer {
  private readonly server: net.Server;
  private readonly connections = new Set<H2ServerConnection>();
  private readonly methods = new Map<string, Method>();
  private logger: Logger;
  private readonly logField: string | undefined;
  private observer: CallObserver | undefined;
  private readonly maxReceiveBytes: number;
  private readonly maxBufferedRequestBytes: number;
  /** Bytes of request bodies held now (gather), against maxBufferedRequestBytes. */
  private bufferedRequestBytes = 0;
  private nextRequestId = 1;
  /** Handlers running (beginWork), on every connection, those of reset calls and closed connections included. */
  private working = 0;
  /** Told when working falls to 0 (shutdown waits for it). */
  private readonly whenIdle: Array<() => void> = [];
  /** Calls that came in while held (holdCalls), run at openCalls. */
  private held: Array<() => void> | undefined;
  private stopping = false;
  private readonly privateHealthNames = new Set<string>();
  private impaired: () => string | undefined = () => undefined;
  /** Set by refuseCalls: what every call but the health check is answered. */
  private refusal: { code: number; message: string } | undefined;

  constructor(options: UnixGrpcServerOptions) {
    this.logger = options.logger ?? (new EarlyLines() as unknown as Logger);
    this.logField = options.logField;
    this.observer = options.observer;
    this.maxReceiveBytes = options.maxReceiveBytes ?? 16 * 1024 * 1024;
    this.maxBufferedRequestBytes = options.maxBufferedRequestBytes ?? MAX_BUFFERED_REQUEST_BYTES;
    this.server = net.createServer((socket) => {
      const connection = new H2ServerConnection(
        socket,
        {
          onRequest: (stream) => this.dispatch(stream),
          // A client that goes away or breaks the protocol is not the server's error; its calls say so.
          onError: (message) => this.logger.debug(message),
          onClose: () => this.connections.delete(connection),
        },
        { handshakeTimeoutMs: options.handshakeTimeoutMs },
      );
      this.connections.add(connection);
    });
  }

  /** Logs to logger from now on, after what was logged before it (a server made without one). */
  useLogger(logger: Logger): void {
    const early = this.logger as unknown;
    this.logger = logger;
    if (early instanceof EarlyLines) for (const [level, message, meta] of early.lines) logger.log(level, message, meta ?? {});
  }

  /** Tells observer about every call that finishes from now on (metrics set up after the server). */
  observeCalls(observer: CallObserver): void {
    this.observer = observer;
  }

  /** Serves the methods of definition that implementation names; the others answer UNIMPLEMENTED. */
  addService(definition: ServiceCodecs, implementation: Record<string, MethodHandler>): void {
    for (const [name, method] of Object.entries(definition)) {
      const handler = implementation[name];
      if (handler === undefined) continue;
      if (method.requestStream || method.responseStream !== (handler.kind === 'stream')) {
        throw new Error(`${method.path}: a ${handler.kind} handler does not fit this method's streaming`);
      }
      const serialize = method.responseSerialize;
      this.methods.set(method.path, {
        name,
        decode: method.requestDeserialize as (bytes: Buffer) => WireRequest,
        encode: (reply) => (Buffer.isBuffer(reply) ? reply : serialize(reply as object)),
        handler,
      });
    }
  }

  /**
   * gRPC's health service (grpc-health.ts) for the server as a whole ("")
   * and for services: NOT_SERVING while calls are held and once shutdown
   * begins, SERVING in between. Its Check is answered even while the other
   * calls are held, so a probe sees a starting daemon as up but not ready.
   */
  serveHealth(services: readonly string[]): void {
    const known = new Set(services);
    this.addService(healthServiceCodecs(), {
      Check: unary((request) => {
        const service = typeof request.service === 'string' ? request.service : '';
        const answer = healthAnswer(this.phase, this.privateHealthNames.has(service) ? this.privateHealthNames : known, service, this.impaired());
        if (!answer.found) throw new NotFoundError(`unknown service ${JSON.stringify(service)}: this server knows "" and ${[...known].map((name) => JSON.stringify(name)).join(', ')}`);
        if (answer.status === 'SERVING') return { status: answer.status };
        return new ReplyWithTrailers({ status: answer.status }, [[HEALTH_REASON_TRAILER, encodeHealthReason(answer.reason)]]);
      }),
    });
  }

  /**
   * Why a serving daemon cannot do its work now (undefined: it can), asked at
   * each health Check: if so the answer is NOT_SERVING with that reason
   * (grpc-health.ts).
   */
  reportImpaired(impaired: () => string | undefined): void {
    this.impaired = impaired;
  }

  /**
   * A service name this server's health Check answers until the returned
   * function is called, and no other server knows: a client that gets an
   * answer for it has reached this server (socket-self-check.ts).
   */
  answerHealthFor(name: string): () => void {
    this.privateHealthNames.add(name);
    return () => this.privateHealthNames.delete(name);
  }

  get phase(): ServerPhase {
    if (this.stopping) return 'stopping';
    return this.held === undefined ? 'serving' : 'starting';
  }

  /**
   * Until openCalls, calls are taken in (their headers and body read, the
   * connection's HTTP/2 handshake answered) but not run: for a daemon that
   * listens on systemd's socket before its service is ready. A client whose
   * connect gives the server little time to answer its handshake — containerd's
   * proxy client waits for its reconnect backoff, 1 s on a first attempt — is
   * then answered at once, and its call runs once the service can serve it.
   */
  holdCalls(): void {
    this.held ??= [];
  }

  /**
   * For a daemon that cannot start after it took its socket (a policy it
   * cannot use, a database it cannot open): every call held since holdCalls,
   * and every later one, is answered with code and message, and the health
   * check NOT_SERVING with the message, instead of the connection closing
   * under them when the process exits.
   */
  refuseCalls(code: number, message: string): void {
    this.refusal = { code, message };
    this.impaired = () => message;
    this.openCalls();
  }

  /** Runs the calls held since holdCalls, in their order, and every later one at once. */
  openCalls(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const run of held) run();
  }

  /** Listens on a unix socket path, or on a listening unix socket already open as fd (systemd socket activation). */
  listen(socket: string | { fd: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socket, () => {
        this.server.off('error', reject);
        // node reports an address (host and port) only for an inet socket.
        const address = this.server.address();
        if (typeof socket !== 'string' && address !== null && typeof address === 'object') {
          this.server.close();
          reject(new StartupError(`fd ${socket.fd}, passed by systemd, is an inet socket, not a unix one: tsov serves only unix sockets (ListenStream= must name a path)`));
          return;
        }
        resolve();
      });
    });
  }

  /**
   * Stops accepting calls and resolves when every call's handler has
   * finished — those whose client reset the call or closed its connection
   * included: the daemon closes its database or journal next — and every
   * connection has closed; or when graceMs has passed, then closing the
   * connections still open.
   */
  shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    const handlersFinished = new Promise<void>((resolve) => (this.working === 0 ? resolve() : this.whenIdle.push(resolve)));
    const connectionsClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // GOAWAY: no new calls on open connections; each closes when its calls are done.
    for (const connection of this.connections) connection.goAway();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.logger.warn('in-flight calls did not finish in time; closing them', { graceMs, handlers_running: this.working });
        for (const connection of this.connections) connection.destroy();
        resolve();
      }, graceMs);
    });
    return Promise.race([graceOver.then(() => connectionsClosed), Promise.all([handlersFinished, connectionsClosed])]).then(() => clearTimeout(timer));
  }

  private dispatch(stream: H2ServerStream): void {
    const path = stream.headers.get(':path') ?? '';
    if (this.held !== undefined && path !== HEALTH_CHECK_PATH) {
      this.hold(stream);
      return;
    }
    if (this.refusal !== undefined && path !== HEALTH_CHECK_PATH) {
      this.sendStatus(stream, this.refusal.code, this.refusal.message);
      return;
    }
    const method = this.methods.get(path);
    if (stream.headers.get(':method') !== 'POST' || !(stream.headers.get('content-type') ?? '').startsWith(GRPC_CONTENT_TYPE)) {
      // PROTOCOL-HTTP2.md: a request that is not gRPC gets a plain HTTP error.
      stream.replyHeadersOnly([[':status', '415']]);
      return;
    }
    if (method === undefined) {
      this.sendStatus(stream, GrpcCode.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    const chunks: Buffer[] = [];
    const release = this.gather(stream, chunks);
    stream.onEnd = () => {
      release();
      if (!stream.writable) return;
      const body = parseUnaryBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), this.maxReceiveBytes);
      if (!body.ok) {
        this.sendStatus(stream, body.code, body.reason);
        return;
      }
      let request: WireRequest;
      try {
        request = method.decode(body.message);
      } catch (error) {
        this.sendStatus(stream, GrpcCode.INTERNAL, `the request message could not be parsed: ${String(error)}`);
        return;
      }
      const timeout = stream.headers.get('grpc-timeout');
      let deadline: number | undefined;
      if (timeout !== undefined) {
        const ms = parseGrpcTimeout(timeout);
        // As grpc-go's server answers it (internal/transport/http_util.go, decodeTimeout).
        if (ms === undefined) {
          this.sendStatus(stream, GrpcCode.INTERNAL, `malformed grpc-timeout ${JSON.stringify(timeout)}: 1 to 8 digits and a unit (H, M, S, m, u, n)`);
          return;
        }
        deadline = performance.now() + ms;
      }
      this.call(stream, method, request, deadline);
    };
  }

  /**
   * Gathers a call's body into chunks as it comes; over the call's size limit,
   * or past what the server holds of all bodies (maxBufferedRequestBytes), the
   * call is refused and nothing more kept. The function returned says the
   * chunks are no longer held (the body is whole and taken); a stream that
   * closes first (reset, its connection gone) lets them go itself.
   */
  private gather(stream: H2ServerStream, chunks: Buffer[]): () => void {
    let received = 0;
    let held = 0;
    const release = () => {
      this.bufferedRequestBytes -= held;
      held = 0;
    };
    const refuse = (code: number, reason: string) => {
      release();
      chunks.length = 0;
      this.sendStatus(stream, code, reason);
    };
    stream.onClosed = release;
    stream.onData = (chunk) => {
      if (!stream.writable) return;
      received += chunk.length;
      if (received > MESSAGE_PREFIX_BYTES + this.maxReceiveBytes) {
        const tooLarge = messageTooLarge(received - MESSAGE_PREFIX_BYTES, this.maxReceiveBytes);
        refuse(tooLarge.code, tooLarge.reason);
        return;
      }
      if (this.bufferedRequestBytes + chunk.length > this.maxBufferedRequestBytes) {
        refuse(GrpcCode.RESOURCE_EXHAUSTED, `unfinished request bodies would pass the server's limit of ${mebibytes(this.maxBufferedRequestBytes)} MiB with this one (${mebibytes(this.bufferedRequestBytes)} MiB held, ${mebibytes(held)} MiB of it this call's): retry`);
        return;
      }
      held += chunk.length;
      this.bufferedRequestBytes += chunk.length;
      chunks.push(chunk);
    };
    return release;
  }

  /** Gathers a held call's body; at openCalls it is dispatched as if it had just come in. */
  private hold(stream: H2ServerStream): void {
    const chunks: Buffer[] = [];
    let ended = false;
    const release = this.gather(stream, chunks);
    stream.onEnd = () => (ended = true);
    // A held call and its body are kept until openCalls, reset or not: counted as work.
    const finished = this.beginWork(stream);
    this.held!.push(() => {
      // dispatch gathers the body again, counting it anew.
      release();
      if (stream.writable) {
        this.dispatch(stream);
        for (const chunk of chunks) stream.onData?.(chunk);
        if (ended) stream.onEnd?.();
      }
      finished();
    });
  }

  /**
   * Runs the handler at once. A reply it computes at once (Stat, Mounts, List:
   * reads answered from memory) is written out at once too: under load the
   * same turn of the loop also runs other calls' synchronous work (their
   * metadata transactions), and a reply sent at the end of the turn waited for
   * all of it (8-worker cycle, three 4-s rounds: Mounts p50 0.41-0.49 against
   * 0.58-0.66 ms, the same rate and CPU). A reply that waits for I/O goes out
   * with whatever else its turn sends.
   */
  private call(stream: H2ServerStream, method: Method, request: WireRequest, deadline: number | undefined): void {
    const requestId = this.nextRequestId++;
    const started = process.hrtime.bigint();
    const finished = this.beginWork(stream);
    try {
      const result = method.handler.handle(request, deadline);
      if (isThenable(result)) {
        // One promise per call (no .catch or .finally chained): the reply's encoding can throw too.
        Promise.resolve(result).then(
          (reply) => {
            try {
              this.succeed(stream, method, requestId, started, request, reply);
            } catch (error) {
              this.fail(stream, method, requestId, started, request, error);
            } finally {
              finished();
            }
          },
          (error: unknown) => {
            try {
              this.fail(stream, method, requestId, started, request, error);
            } finally {
              finished();
            }
          },
        );
        return;
      }
      this.succeed(stream, method, requestId, started, request, result);
    } catch (error) {
      this.fail(stream, method, requestId, started, request, error);
    }
    finished();
    stream.sendNow();
  }

  /**
   * Work a call starts, until the function returned is called: counted on its
   * connection (which takes no more frames while too much runs: connection.ts,
   * beginWork) and by the server, whose shutdown waits for it. A call its
   * client has reset still runs to the end (a Prepare's transaction, a
   * helper's mount and its journal entry), so it counts until then.
   */
  private beginWork(stream: H2ServerStream): () => void {
    const connectionFinished = stream.beginWork();
    this.working += 1;
    return () => {
      connectionFinished();
      this.working -= 1;
      if (this.working === 0) for (const idle of this.whenIdle.splice(0)) idle();
    };
  }

  /** The reply, encoded and sent; throws (nothing sent) if it cannot be encoded. */
  private succeed(stream: H2ServerStream, method: Method, requestId: number, started: bigint, request: WireRequest, result: unknown): void {
    const reply = result instanceof ReplyWithTrailers ? result.reply : result;
    const messages = method.handler.kind === 'unary' ? [method.encode(reply)] : (reply as unknown[]).map(method.encode);
    if (debugEnabled(this.logger)) this.logSuccess(method.name, requestId, { ms: elapsedMs(started), ...this.logged(request), ...(method.handler.kind === 'stream' ? { messages: messages.length } : {}) });
    this.observe(method.name, GrpcCode.OK, started);
    this.sendMessages(stream, messages, result instanceof ReplyWithTrailers ? [...statusFields(GrpcCode.OK, ''), ...result.trailers] : OK_TRAILER_BLOCK);
  }

  private fail(stream: H2ServerStream, method: Method, requestId: number, started: bigint, request: WireRequest, error: unknown): void {
    this.logFailure(method.name, requestId, error, request);
    const code = grpcStatusFor(error);
    this.observe(method.name, code, started);
    this.sendStatus(stream, code, statusMessageFor(error));
  }

  private sendMessages(stream: H2ServerStream, messages: Buffer[], trailers: readonly HeaderField[] | Buffer): void {
    const framed = messages.map(framedMessage);
    stream.reply(RESPONSE_HEADER_BLOCK, framed.length === 1 ? framed[0]! : Buffer.concat(framed), trailers);
  }

  /** A status with no messages: one HEADERS frame ("Trailers-Only"). */
  private sendStatus(stream: H2ServerStream, code: number, message: string): void {
    stream.replyHeadersOnly([...RESPONSE_HEADERS, ...statusFields(code, message)]);
  }

  private observe(method: string, code: number, started: bigint): void {
    this.observer?.(method, statusName(code), elapsedMs(started) / 1000);
  }

  private logged(request: WireRequest): Record<string, unknown> {
    return this.logField === undefined ? {} : { [this.logField]: request[this.logField] };
  }

  /**
   * Per-call lines are debug level. winston formats a line before its
   * transports drop it by level, so the caller checks the level first (and
   * builds no fields): at the default level a successful call costs no
   * logging at all.
   */
  private logSuccess(method: string, requestId: number, fields: Record<string, unknown>): void {
    this.logger.debug('ok', { rpc: method, request_id: requestId, ...fields });
  }

  private logFailure(method: string, requestId: number, error: unknown, request: WireRequest): void {
    const call = { rpc: method, request_id: requestId, ...this.logged(request) };
    if (error instanceof TsovError && error.code !== 'Internal') {
      if (debugEnabled(this.logger)) this.logger.debug('refused', { ...call, code: error.code, reason: error.message });
    } else {
      this.logger.error('failed', { ...call, error: error instanceof Error ? error.stack : String(error) });
    }
  }
}

function mebibytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}
