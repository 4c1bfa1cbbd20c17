/**
 * The server side of one HTTP/2 connection (RFC 9113), as much of it as a
 * gRPC server of unary and server-streaming calls needs, written so that a
 * reply — response headers, its messages and its trailers — leaves in one
 * write. node:http2 sends a gRPC reply's trailers a loop turn after its
 * message and builds a Duplex stream with listeners for every call; on the
 * sequential path containerd waits on that cost was most of the gap to a Go
 * server (bench/HISTORY.md).
 *
 * What both ends do alike — frames, SETTINGS, PING, flow control both ways,
 * HPACK, one write per loop turn, GOAWAY naming a violation — is
 * endpoint.ts's. This side adds: the client preface; calls opened by the
 * client's HEADERS (odd ids, increasing, at most MAX_CONCURRENT_STREAMS at
 * once); request bodies until END_STREAM; RST_STREAM from the client (the
 * call's reply is dropped); GOAWAY to stop taking calls while those in flight
 * finish; a bound on the work calls start (beginWork), reset ones included;
 * a deadline on the client's handshake (HANDSHAKE_TIMEOUT_MS). It does not
 * push and does not honour priorities.
 */
import type { Socket } from 'node:net';
import { CLIENT_PREFACE, ErrorCode, Setting, encodeGoAway, encodeRstStream } from './frames';
import { ConnectionError, H2Endpoint, type FlowStream, type StreamState } from './endpoint';
import { encodeHeaderBlock, type HeaderField } from './hpack';

/**
 * How long a client has to send its preface and first SETTINGS frame before
 * the connection is closed: grpc-go's default ConnectionTimeout (server.go,
 * handleRawConn: a deadline on the raw connection until newHTTP2Transport
 * has read both). A client that connects and sends nothing otherwise holds a
 * file descriptor and a connection for as long as it likes.
 */
export const HANDSHAKE_TIMEOUT_MS = 120_000;

/** Concurrent calls a client may open (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused with REFUSED_STREAM. */
export const MAX_CONCURRENT_STREAMS = 1000;
/** Each call's receive window (SETTINGS_INITIAL_WINDOW_SIZE), and the connection's, raised at the start. */
const STREAM_RECEIVE_WINDOW = 1 << 20;
const CONNECTION_RECEIVE_WINDOW = 16 << 20;

export interface H2ConnectionHandlers {
  /** A call's headers arrived; set the stream's onData and onEnd for its body (onEnd alone when it has none). */
  onRequest(stream: H2ServerStream): void;
  /** The connection failed or broke the protocol (already answered with GOAWAY); for logging. */
  onError?(message: string): void;
  /** The socket closed. */
  onClose?(): void;
}

export interface H2ServerOptions {
  /** HANDSHAKE_TIMEOUT_MS unless set (tests). */
  handshakeTimeoutMs?: number;
}

export class H2ServerStream implements FlowStream {
  /** Set by the owner of the call: body chunks and the end of the body. */
  onData: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
  /** Set by the owner of the call: the stream is over (replied, reset by either side, or its connection closed). */
  onClosed: (() => void) | undefined;
  state: StreamState = 'open';
  sendWindow: number;
  pending: FlowStream['pending'];
  unacknowledged = 0;

  constructor(
    private readonly connection: H2ServerConnection,
    readonly id: number,
    /** Request headers by name (a repeated name keeps its last value). */
    readonly headers: ReadonlyMap<string, string>,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  private replied = false;

  /** Whether a reply can still be sent (not already sent, not reset by the client, connection open). */
  get writable(): boolean {
    return this.state !== 'closed' && !this.replied;
  }

  /**
   * Response headers, each message in DATA frames, then trailers ending the
   * stream: in one write when the windows allow. Headers and trailers as
   * fields, or as header blocks already encoded (encodeHeaderBlock: constant
   * lists need encoding only once).
   */
  reply(headers: readonly HeaderField[] | Buffer, data: Buffer, trailers: readonly HeaderField[] | Buffer): void {
    if (!this.writable) return;
    this.replied = true;
    const block = (fields: readonly HeaderField[] | Buffer) => (Buffer.isBuffer(fields) ? fields : encodeHeaderBlock(fields));
    this.connection.sendReply(this, block(headers), data, block(trailers));
  }

  /**
   * Writes what the connection has to send now (this stream's reply among it)
   * instead of at the end of the event loop's turn, after whatever else the
   * turn runs: for a reply computed at once (a read answered from memory)
   * while other calls of the same turn still do their work.
   */
  sendNow(): void {
    this.connection.sendQueuedNow();
  }

  /**
   * The call's handler starts; the function returned says it has finished
   * (once; later calls do nothing). Whether or not the stream is still open:
   * see H2ServerConnection.beginWork.
   */
  beginWork(): () => void {
    return this.connection.beginWork();
  }

  /** One HEADERS frame that ends the stream (gRPC's Trailers-Only). */
  replyHeadersOnly(fields: readonly HeaderField[]): void {
    if (!this.writable) return;
    this.replied = true;
    this.connection.sendHeadersOnly(this, encodeHeaderBlock(fields));
  }
}

export class H2ServerConnection extends H2Endpoint<H2ServerStream> {
  private prefaceSeen = false;
  private lastStreamId = 0;
  private goingAway = false;
  /** Handlers started for this connection's calls and not finished, those of calls reset since included. */
  private working = 0;

  /** Closes the connection unless the client's handshake arrives first (HANDSHAKE_TIMEOUT_MS). */
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(
    socket: Socket,
    private readonly handlers: H2ConnectionHandlers,
    options: H2ServerOptions = {},
  ) {
    super(socket, {
      settings: [[Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS]],
      streamWindow: STREAM_RECEIVE_WINDOW,
      connectionWindow: CONNECTION_RECEIVE_WINDOW,
      peer: 'client',
    });
    const limitMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = undefined;
      this.handlers.onError?.(`no HTTP/2 handshake (the client preface and its SETTINGS) within ${limitMs / 1000} s of connecting: closing the connection`);
      this.destroy();
    }, limitMs);
    // A daemon with nothing else to do may stop: the timer guards a connection, it is not work.
    this.handshakeTimer.unref();
  }

  protected override handshakeReceived(): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  /** Calls open now (headers received, reply not fully sent). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * A call's handler starts; the function returned says it has finished.
   * While MAX_CONCURRENT_STREAMS handlers run, the connection takes no more
   * frames. A client that resets each call as soon as it has sent it (HTTP/2
   * "rapid reset", CVE-2023-44487) frees the stream at once, so the
   * streams limit alone would not bound the work its calls start. grpc-go
   * bounds it the same way: serveStreams (server.go) takes a slot of a
   * handler quota of MaxConcurrentStreams before each handler, released when
   * the handler returns, and the transport's reader waits for one.
   */
  beginWork(): () => void {
    this.working += 1;
    if (this.working >= MAX_CONCURRENT_STREAMS) this.holdFrames();
    let finished = false;
    return () => {
      if (finished) return;
      finished = true;
      this.working -= 1;
      if (this.working < MAX_CONCURRENT_STREAMS) this.releaseFrames();
    };
  }

  /** No new calls (GOAWAY); the connection ends once the calls in flight have replied. */
  goAway(): void {
    if (this.goingAway || this.dead) return;
    this.goingAway = true;
    this.send(encodeGoAway(this.lastStreamId, ErrorCode.NO_ERROR, ''));
    this.endIfIdle();
  }

  sendReply(stream: H2ServerStream, headerBlock: Buffer, data: Buffer, trailerBlock: Buffer): void {
    if (this.dead) return;
    this.sendHeaders(stream.id, headerBlock, false);
    this.sendData(stream, [data], trailerBlock);
  }

  /** The frames queued so far, in one write now (see H2ServerStream.sendNow). */
  sendQueuedNow(): void {
    if (!this.dead) this.flush();
  }

  sendHeadersOnly(stream: H2ServerStream, block: Buffer): void {
    if (this.dead) return;
    this.sendHeaders(stream.id, block, true);
    this.localEnded(stream);
  }

  /** This side has ended the stream; if the client has not (a refused upload), tell it to stop sending. */
  protected localEnded(stream: H2ServerStream): void {
    if (stream.state === 'open') this.send(encodeRstStream(stream.id, ErrorCode.NO_ERROR));
    this.forget(stream);
  }

  protected streamClosed(stream: H2ServerStream): void {
    stream.onClosed?.();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0) {
      this.flush();
      this.socket.end();
    }
  }

  protected override consumePreface(buffered: Buffer): Buffer | undefined {
    if (this.prefaceSeen) return buffered;
    const seen = Math.min(buffered.length, CLIENT_PREFACE.length);
    if (!buffered.subarray(0, seen).equals(CLIENT_PREFACE.subarray(0, seen))) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface (is the client speaking HTTP/1 or TLS?)');
    }
    if (seen < CLIENT_PREFACE.length) return undefined;
    this.prefaceSeen = true;
    return buffered.subarray(CLIENT_PREFACE.length);
  }

  protected isIdle(streamId: number): boolean {
    return streamId > this.lastStreamId;
  }

  protected lastPeerStreamId(): number {
    return this.lastStreamId;
  }

  protected goAwayReceived(): void {
    // A client going away sends no more calls; the ones it made still get their replies.
  }

  protected connectionFailed(message: string): void {
    this.handlers.onError?.(message);
  }

  protected socketClosed(open: H2ServerStream[]): void {
    clearTimeout(this.handshakeTimer);
    for (const stream of open) stream.onClosed?.();
    this.handlers.onClose?.();
  }

  protected headerBlock(streamId: number, endStream: boolean, fields: HeaderField[] | undefined): void {
    if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${streamId}, which a client cannot open`);
    if (streamId <= this.lastStreamId) {
      // Trailers from the client, or headers on a stream already closed: gRPC sends neither.
      const existing = this.streams.get(streamId);
      if (existing !== undefined) this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    this.lastStreamId = streamId;
    if (this.goingAway) return; // after GOAWAY: not processed (the client retries it elsewhere)
    if (fields === undefined || this.streams.size >= MAX_CONCURRENT_STREAMS) {
      this.send(encodeRstStream(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const headers = new Map<string, string>();
    for (const [name, value] of fields) headers.set(name, value);
    const stream = new H2ServerStream(this, streamId, headers, this.peerInitialWindow);
    this.streams.set(streamId, stream);
    if (endStream) stream.state = 'half-closed';
    this.handlers.onRequest(stream);
    if (endStream && stream.state !== 'closed') stream.onEnd?.();
  }

  protected streamData(stream: H2ServerStream, data: Buffer, endStream: boolean): void {
    if (data.length > 0) stream.onData?.(data);
    if (endStream && stream.state === 'open') {
      stream.state = 'half-closed';
      stream.onEnd?.();
    }
  }
}
