/**
 * The client side of one HTTP/2 connection (RFC 9113), as much of it as a
 * unary gRPC client needs: requests on odd stream ids, each one HEADERS frame
 * and its body in DATA frames ending the stream (within the server's
 * windows); the response's headers, body and trailers gathered until the
 * server ends the stream, within a size limit. What both ends do alike is
 * endpoint.ts's.
 *
 * A request fails with a StreamFailure when the server resets its stream, when
 * a GOAWAY leaves it unprocessed, when the response is too large or breaks the
 * protocol, when the connection breaks or closes, or when its caller gives up
 * (an AbortSignal: the stream is reset with CANCEL); its kind tells which, and
 * whether the server can have seen the request.
 */
import type { Socket } from 'node:net';
import { CLIENT_PREFACE, ErrorCode, MAX_WINDOW } from './frames';
import { ConnectionError, H2Endpoint, MAX_HEADER_LIST_BYTES, type FlowStream, type StreamReset, type StreamState } from './endpoint';
import { encodeHeaderBlock, type HeaderField } from './hpack';

/** Each response's receive window, and the connection's. */
const STREAM_RECEIVE_WINDOW = 1 << 20;
const CONNECTION_RECEIVE_WINDOW = 16 << 20;

export interface H2Response {
  /** The response headers (with :status), by name. */
  headers: ReadonlyMap<string, string>;
  body: Buffer;
  /** Trailers; none when the headers ended the stream ("Trailers-Only"). */
  trailers: ReadonlyMap<string, string> | undefined;
}

/**
 * Why a request failed below its protocol: it was certainly not processed
 * (no connection, above a GOAWAY's last stream, REFUSED_STREAM), the
 * connection was lost under it, the server reset it, its response was over
 * the limit, the server broke the protocol on its stream, or the caller
 * cancelled it (which the server may or may not have acted on).
 */
export type FailureKind = 'unprocessed' | 'connection-lost' | 'reset' | 'too-large' | 'protocol' | 'cancelled';

export class StreamFailure extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    /** The RST_STREAM code the server sent, if it reset the stream. */
    readonly resetCode?: number,
  ) {
    super(message);
  }

  /** False when the request certainly went unprocessed: safe to send again. */
  get reachedServer(): boolean {
    return this.kind !== 'unprocessed';
  }
}

class H2ClientStream implements FlowStream {
  state: StreamState = 'open';
  pending: FlowStream['pending'];
  unacknowledged = 0;
  headers: Map<string, string> | undefined;
  trailers: Map<string, string> | undefined;
  readonly chunks: Buffer[] = [];
  received = 0;
  settled = false;

  constructor(
    readonly id: number,
    public sendWindow: number,
    readonly maxBodyBytes: number,
    readonly resolve: (response: H2Response) => void,
    readonly reject: (failure: StreamFailure) => void,
  ) {}
}

const ERROR_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));
const errorName = (code: number) => ERROR_NAMES.get(code) ?? `error ${code}`;

export class H2ClientConnection extends H2Endpoint<H2ClientStream> {
  private nextStreamId = 1;
  private goneAway = false;
  private failure: string | undefined;

  constructor(socket: Socket) {
    super(socket, {
      preface: CLIENT_PREFACE,
      settings: [],
      streamWindow: STREAM_RECEIVE_WINDOW,
      connectionWindow: CONNECTION_RECEIVE_WINDOW,
      peer: 'server',
    });
  }

  /** Whether a new request can go on this connection (not closed, no GOAWAY, stream ids left). */
  get usable(): boolean {
    return !this.dead && !this.socket.destroyed && !this.goneAway && this.nextStreamId <= MAX_WINDOW;
  }

  /**
   * Sends a request; resolves with the whole response once the server ends
   * the stream. When signal aborts first, the request fails as 'cancelled'
   * (with the signal's reason as its message) and its stream is reset with
   * CANCEL, so that the server may stop working on it.
   */
  request(headers: readonly HeaderField[], body: Buffer, maxBodyBytes: number, signal?: AbortSignal): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      if (!this.usable || signal?.aborted === true) {
        reject(new StreamFailure(signal?.aborted === true ? abortReason(signal) : (this.failure ?? 'the connection is closed'), 'unprocessed'));
        return;
      }
      const onAbort = () => {
        if (this.streams.get(stream.id) === stream) this.failStream(stream, ErrorCode.CANCEL, 'cancelled', abortReason(signal!));
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      const stream = new H2ClientStream(
        this.nextStreamId,
        this.peerInitialWindow,
        maxBodyBytes,
        (response) => {
          done();
          resolve(response);
        },
        (failure) => {
          done();
          reject(failure);
        },
      );
      this.nextStreamId += 2;
      this.streams.set(stream.id, stream);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sendHeaders(stream.id, encodeHeaderBlock(headers), false);
      this.sendData(stream, [body]);
    });
  }

  /** Ends the connection; requests still open fail. */
  close(): void {
    this.socket.end();
  }

  protected localEnded(): void {
    // The request is sent; the stream stays open for the response.
  }

  protected isIdle(streamId: number): boolean {
    return streamId % 2 === 0 || streamId >= this.nextStreamId;
  }

  protected lastPeerStreamId(): number {
    return 0; // a server opens no streams here (push is disabled)
  }

  protected headerBlock(streamId: number, endStream: boolean, fields: HeaderField[] | undefined): void {
    if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which this client did not open`);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // a stream this side has reset
    if (fields === undefined) {
      this.failStream(stream, ErrorCode.CANCEL, 'too-large', `the server's header list exceeds ${MAX_HEADER_LIST_BYTES} bytes`);
      return;
    }
    const map = new Map<string, string>();
    for (const [name, value] of fields) map.set(name, value);
    if (stream.headers === undefined) stream.headers = map;
    else if (endStream) stream.trailers = map;
    else {
      this.failStream(stream, ErrorCode.PROTOCOL_ERROR, 'protocol', 'the server sent a second header block that does not end the stream');
      return;
    }
    if (endStream) this.complete(stream);
  }

  protected streamData(stream: H2ClientStream, data: Buffer, endStream: boolean): void {
    if (stream.headers === undefined) {
      this.failStream(stream, ErrorCode.PROTOCOL_ERROR, 'protocol', 'the server sent DATA before its response headers');
      return;
    }
    stream.received += data.length;
    if (stream.received > stream.maxBodyBytes) {
      this.failStream(stream, ErrorCode.CANCEL, 'too-large', `the response body exceeds ${stream.maxBodyBytes} bytes`);
      return;
    }
    if (data.length > 0) stream.chunks.push(Buffer.from(data));
    if (endStream) this.complete(stream);
  }

  private complete(stream: H2ClientStream): void {
    stream.settled = true;
    stream.resolve({ headers: stream.headers!, body: stream.chunks.length === 1 ? stream.chunks[0]! : Buffer.concat(stream.chunks), trailers: stream.trailers });
    this.forget(stream);
  }

  /** Resets the stream and fails its request with reason. */
  private failStream(stream: H2ClientStream, code: number, kind: FailureKind, reason: string): void {
    this.settle(stream, new StreamFailure(reason, kind));
    this.resetStream(stream, code);
  }

  private settle(stream: H2ClientStream, failure: StreamFailure): void {
    if (stream.settled) return;
    stream.settled = true;
    stream.reject(failure);
  }

  protected streamClosed(stream: H2ClientStream, reset: StreamReset | undefined): void {
    if (reset === undefined) this.settle(stream, new StreamFailure('the stream closed before its response ended', 'protocol'));
    else if (reset.byPeer) this.settle(stream, new StreamFailure(`the server reset the stream (${errorName(reset.code)})`, reset.code === ErrorCode.REFUSED_STREAM ? 'unprocessed' : 'reset', reset.code));
    // This side reset it: the server broke the stream's flow control or sent on it after its end.
    else this.settle(stream, new StreamFailure(`the server broke the stream's rules; reset with ${errorName(reset.code)}`, 'protocol'));
  }

  protected goAwayReceived(lastStreamId: number, code: number, debug: string): void {
    this.goneAway = true;
    const why = `the server is going away (GOAWAY ${errorName(code)}${debug === '' ? '' : `: ${debug}`})`;
    this.failure = why;
    // Streams above its last one were not processed and never will be (RFC 9113 6.8): safe to retry.
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) {
        this.settle(stream, new StreamFailure(why, 'unprocessed'));
        this.forget(stream);
      }
    }
  }

  protected connectionFailed(message: string): void {
    this.failure ??= message;
  }

  /** "connect ENOENT /run/…/helper.sock" as the reason, as it is. */
  protected override socketFailed(error: Error): void {
    this.failure ??= error.message;
  }

  protected socketClosed(open: H2ClientStream[]): void {
    // Nothing ever read: no server answered this connection (its first frame is always SETTINGS).
    const kind: FailureKind = this.socket.bytesRead === 0 ? 'unprocessed' : 'connection-lost';
    for (const stream of open) this.settle(stream, new StreamFailure(this.failure ?? 'the server closed the connection', kind));
  }
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'the request was cancelled');
}
