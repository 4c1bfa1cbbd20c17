/**
 * The server side of one HTTP/2 connection (RFC 9113), as much of it as a
 * gRPC server of unary and server-streaming calls needs, written so that a
 * reply — response headers, its messages and its trailers — leaves in one
 * write. node:http2 sends a gRPC reply's trailers a loop turn after its
 * message and builds a Duplex stream with listeners for every call; on the
 * sequential path containerd waits on that cost was most of the gap to a Go
 * server (README, Benchmarks).
 *
 * What it does: the client preface and SETTINGS exchange; HEADERS with
 * CONTINUATION, padding and priority fields; HPACK (hpack.ts); request bodies
 * gathered until END_STREAM within a size limit; flow control both ways
 * (replies wait for the client's windows, frames no larger than its
 * SETTINGS_MAX_FRAME_SIZE; the client's data is acknowledged as it arrives);
 * PING; RST_STREAM from the client (the call's reply is dropped); GOAWAY to
 * stop taking calls while those in flight finish. It does not push, does not
 * honour priorities, and answers a protocol violation with GOAWAY and a
 * closed connection, naming the violation.
 */
import type { Socket } from 'node:net';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW,
  Setting,
  encodeFrame,
  encodeGoAway,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './frames';
import { CompressionError, encodeHeaderBlock, HpackDecoder, type HeaderField } from './hpack';

/** Concurrent calls a client may open (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused with REFUSED_STREAM. */
export const MAX_CONCURRENT_STREAMS = 1000;
/** SETTINGS_MAX_HEADER_LIST_SIZE: gRPC metadata is small; grpc-go's own default limit is 16 MiB, node's 64 KiB. */
export const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** Each call's receive window (SETTINGS_INITIAL_WINDOW_SIZE), and the connection's, raised at the start. */
const STREAM_RECEIVE_WINDOW = 1 << 20;
const CONNECTION_RECEIVE_WINDOW = 16 << 20;

export interface H2Request {
  readonly id: number;
  /** Request headers by name (a repeated name keeps its last value). */
  readonly headers: ReadonlyMap<string, string>;
}

export interface H2ConnectionHandlers {
  /** A call's headers arrived; its body follows (onBody) unless ended says it has none. */
  onRequest(stream: H2ServerStream): void;
  /** The connection failed or broke the protocol (already answered with GOAWAY); for logging. */
  onError?(message: string): void;
  /** The socket closed. */
  onClose?(): void;
}

/** A violation the whole connection ends for (RFC 9113 5.4.1). */
class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type StreamState = 'open' | 'half-closed' | 'closed';

export class H2ServerStream implements H2Request {
  /** Set by the owner of the call: body chunks and the end of the body. */
  onData: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
  state: StreamState = 'open';
  /** What the client lets this side send on this stream. */
  sendWindow: number;
  /** Reply bytes waiting for a window, and the trailers that follow them. */
  pending: { data: Buffer[]; trailers: Buffer } | undefined;
  /** Received and not yet acknowledged with a WINDOW_UPDATE. */
  unacknowledged = 0;

  constructor(
    private readonly connection: H2ServerConnection,
    readonly id: number,
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

  /** Response headers, each message in DATA frames, then trailers ending the stream: in one write when the windows allow. */
  reply(headers: readonly HeaderField[], data: Buffer, trailers: readonly HeaderField[]): void {
    if (!this.writable) return;
    this.replied = true;
    this.connection.sendReply(this, encodeHeaderBlock(headers), data, encodeHeaderBlock(trailers));
  }

  /** One HEADERS frame that ends the stream (gRPC's Trailers-Only). */
  replyHeadersOnly(fields: readonly HeaderField[]): void {
    if (!this.writable) return;
    this.replied = true;
    this.connection.sendHeadersOnly(this, encodeHeaderBlock(fields));
  }
}

export class H2ServerConnection {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private settingsSeen = false;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2ServerStream>();
  private lastStreamId = 0;
  /** A header block being continued (CONTINUATION frames follow for this stream). */
  private continuing: { streamId: number; endStream: boolean; fragments: Buffer[]; size: number } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private connectionSendWindow = DEFAULT_WINDOW;
  private connectionUnacknowledged = 0;
  /** Streams whose reply waits for a window, in the order they asked. */
  private readonly blocked = new Set<H2ServerStream>();
  private output: Buffer[] = [];
  private flushScheduled = false;
  private goingAway = false;
  private dead = false;
  private readingPaused = false;

  constructor(
    private readonly socket: Socket,
    private readonly handlers: H2ConnectionHandlers,
  ) {
    socket.setNoDelay?.(true);
    this.send(
      encodeSettings([
        [Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_RECEIVE_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    this.send(encodeWindowUpdate(0, CONNECTION_RECEIVE_WINDOW - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.handlers.onError?.(`client connection failed: ${error.message}`));
    socket.on('close', () => {
      this.dead = true;
      for (const stream of this.streams.values()) stream.state = 'closed';
      this.streams.clear();
      this.blocked.clear();
      this.handlers.onClose?.();
    });
  }

  /** Calls open now (headers received, reply not fully sent). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** No new calls (GOAWAY); the connection ends once the calls in flight have replied. */
  goAway(): void {
    if (this.goingAway || this.dead) return;
    this.goingAway = true;
    this.send(encodeGoAway(this.lastStreamId, ErrorCode.NO_ERROR, ''));
    this.endIfIdle();
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  sendReply(stream: H2ServerStream, headerBlock: Buffer, data: Buffer, trailerBlock: Buffer): void {
    if (this.dead) return;
    this.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, stream.id, headerBlock));
    stream.pending = { data: data.length > 0 ? [data] : [], trailers: trailerBlock };
    this.sendPending(stream);
  }

  sendHeadersOnly(stream: H2ServerStream, block: Buffer): void {
    if (this.dead) return;
    this.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id, block));
    this.finish(stream);
  }

  /** As much of a stream's reply as the windows allow; the trailers once all its data is out. */
  private sendPending(stream: H2ServerStream): void {
    const pending = stream.pending;
    if (pending === undefined || stream.state === 'closed') return;
    while (pending.data.length > 0) {
      const head = pending.data[0]!;
      const size = Math.min(head.length, stream.sendWindow, this.connectionSendWindow, this.peerMaxFrameSize);
      if (size <= 0) {
        this.blocked.add(stream);
        return;
      }
      this.send(encodeFrame(FrameType.DATA, 0, stream.id, head.subarray(0, size)));
      stream.sendWindow -= size;
      this.connectionSendWindow -= size;
      if (size === head.length) pending.data.shift();
      else pending.data[0] = head.subarray(size);
    }
    this.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id, pending.trailers));
    this.finish(stream);
  }

  /** This side has ended the stream; if the client has not (a refused upload), tell it to stop sending. */
  private finish(stream: H2ServerStream): void {
    if (stream.state === 'open') this.send(encodeRstStream(stream.id, ErrorCode.NO_ERROR));
    this.forget(stream);
  }

  /** The stream is over, whoever ended it: nothing more is sent on it. */
  private forget(stream: H2ServerStream): void {
    stream.state = 'closed';
    stream.pending = undefined;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0) {
      this.flush();
      this.socket.end();
    }
  }

  private send(frame: Buffer): void {
    this.output.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything sent in this turn of the loop (replies resolved together, acks) goes in one write.
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.output.length === 0 || this.socket.destroyed) {
      this.output = [];
      return;
    }
    const frames = this.output;
    this.output = [];
    const flushed = this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    // A client that sends without reading what it is sent (a PING or SETTINGS flood, calls whose
    // replies it never reads): stop reading from it until it has read ours. Replies' DATA is
    // bounded by its windows already; this bounds everything else.
    if (!flushed && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.readingPaused = false;
        this.socket.resume();
      });
    }
  }

  private receive(chunk: Buffer): void {
    if (this.dead) return;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    try {
      if (!this.prefaceSeen) {
        const seen = Math.min(this.buffered.length, CLIENT_PREFACE.length);
        if (!this.buffered.subarray(0, seen).equals(CLIENT_PREFACE.subarray(0, seen))) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface (is the client speaking HTTP/1 or TLS?)');
        }
        if (seen < CLIENT_PREFACE.length) return;
        this.buffered = this.buffered.subarray(CLIENT_PREFACE.length);
        this.prefaceSeen = true;
      }
      let at = 0;
      while (this.buffered.length - at >= FRAME_HEADER_BYTES) {
        const length = this.buffered.readUIntBE(at, 3);
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${length}-byte frame exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
        if (this.buffered.length - at < FRAME_HEADER_BYTES + length) break;
        const type = this.buffered[at + 3]!;
        const flags = this.buffered[at + 4]!;
        const streamId = this.buffered.readUInt32BE(at + 5) & MAX_WINDOW;
        const payload = this.buffered.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
        at += FRAME_HEADER_BYTES + length;
        this.frame(type, flags, streamId, payload);
        if (this.dead) return;
      }
      // Keep only the incomplete frame (copied: the chunk it came in is not kept alive).
      this.buffered = at === this.buffered.length ? Buffer.alloc(0) : Buffer.from(this.buffered.subarray(at));
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
      this.fail(error);
    }
  }

  private fail(error: ConnectionError): void {
    this.handlers.onError?.(`HTTP/2 protocol error from the client, closing its connection: ${error.message}`);
    this.send(encodeGoAway(this.lastStreamId, error.code, error.message));
    this.flush();
    this.dead = true;
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the client preface must be followed by SETTINGS');
    if (this.continuing !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.continuing.streamId)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `a header block of stream ${this.continuing.streamId} is interrupted by another frame`);
    }
    switch (type) {
      case FrameType.DATA:
        return this.data(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.headers(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.continuation(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        return;
      case FrameType.RST_STREAM:
        return this.rstStream(streamId, payload);
      case FrameType.SETTINGS:
        return this.settings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client sent PUSH_PROMISE');
      case FrameType.PING:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte PING`);
        if ((flags & Flag.ACK) === 0) this.send(encodeFrame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        return;
      case FrameType.WINDOW_UPDATE:
        return this.windowUpdate(streamId, payload);
      default:
        // RFC 9113 4.1: frames of unknown types are ignored.
        return;
    }
  }

  private settings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'a SETTINGS acknowledgement with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte SETTINGS frame`);
    this.settingsSeen = true;
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} is above 2^31-1`);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) stream.sendWindow += delta;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} is out of range`);
        this.peerMaxFrameSize = value;
      } else if (id === Setting.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
      }
      // HEADER_TABLE_SIZE: this side's encoder never indexes. The others bound what a client receives.
    }
    this.send(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.unblock();
  }

  private windowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte WINDOW_UPDATE`);
    const increment = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a connection WINDOW_UPDATE of 0');
      this.connectionSendWindow += increment;
      if (this.connectionSendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the connection window exceeds 2^31-1');
      this.unblock();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // a stream already closed: allowed (RFC 9113 6.9)
    if (increment === 0) {
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.sendPending(stream);
  }

  private unblock(): void {
    for (const stream of [...this.blocked]) this.sendPending(stream);
  }

  private rstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte RST_STREAM`);
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.forget(stream);
  }

  private resetStream(stream: H2ServerStream, code: number): void {
    this.send(encodeRstStream(stream.id, code));
    this.forget(stream);
  }

  /** The fragment of a HEADERS or DATA payload after its padding (and, for HEADERS, priority fields). */
  private unpad(flags: number, payload: Buffer, priorityBytes: number): Buffer {
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (payload.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'a padded frame without its pad length');
      end -= payload[0]!;
      start = 1;
    }
    start += priorityBytes;
    if (end < start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
    return payload.subarray(start, end);
  }

  private headers(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const fragment = this.unpad(flags, payload, flags & Flag.PRIORITY ? 5 : 0);
    const block = { streamId, endStream: (flags & Flag.END_STREAM) !== 0, fragments: [Buffer.from(fragment)], size: fragment.length };
    if (flags & Flag.END_HEADERS) this.headerBlock(block);
    else this.continuing = block;
  }

  private continuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.continuing;
    if (block === undefined || block.streamId !== streamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block to continue');
    block.size += payload.length;
    if (block.size > 4 * MAX_HEADER_LIST_BYTES) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `a header block larger than ${4 * MAX_HEADER_LIST_BYTES} bytes`);
    block.fragments.push(Buffer.from(payload));
    if (flags & Flag.END_HEADERS) {
      this.continuing = undefined;
      this.headerBlock(block);
    }
  }

  private headerBlock(block: { streamId: number; endStream: boolean; fragments: Buffer[] }): void {
    let fields: HeaderField[] | undefined;
    try {
      // Decoded whatever becomes of the stream: the decoder's table must follow the client's.
      fields = this.decoder.decode(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments), MAX_HEADER_LIST_BYTES);
    } catch (error) {
      if (error instanceof CompressionError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, `header block of stream ${block.streamId}: ${error.message}`);
      throw error;
    }
    const { streamId } = block;
    if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${streamId}, which a client cannot open`);
    if (streamId <= this.lastStreamId) {
      // Trailers from the client, or headers on a stream already closed: gRPC sends neither.
      const existing = this.streams.get(streamId);
      if (existing !== undefined) this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    this.lastStreamId = streamId;
    if (this.goingAway) return; // after GOAWAY: not processed (the client retries it elsewhere)
    if (fields === undefined) {
      this.send(encodeRstStream(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (this.streams.size >= MAX_CONCURRENT_STREAMS) {
      this.send(encodeRstStream(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const headers = new Map<string, string>();
    for (const [name, value] of fields) headers.set(name, value);
    const stream = new H2ServerStream(this, streamId, headers, this.peerInitialWindow);
    this.streams.set(streamId, stream);
    if (block.endStream) stream.state = 'half-closed';
    this.handlers.onRequest(stream);
    if (block.endStream && stream.state !== 'closed') stream.onEnd?.();
  }

  private data(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
    // The whole frame, padding included, counts against the windows (RFC 9113 6.9.1).
    this.connectionUnacknowledged += payload.length;
    if (this.connectionUnacknowledged > CONNECTION_RECEIVE_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the client sent more than the connection window');
    if (this.connectionUnacknowledged >= CONNECTION_RECEIVE_WINDOW / 2) {
      this.send(encodeWindowUpdate(0, this.connectionUnacknowledged));
      this.connectionUnacknowledged = 0;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined || stream.state !== 'open') {
      // A stream this side has closed (a refused upload) or the client had ended: nothing to deliver.
      if (stream !== undefined) this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    stream.unacknowledged += payload.length;
    if (stream.unacknowledged > STREAM_RECEIVE_WINDOW) {
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!endStream && stream.unacknowledged >= STREAM_RECEIVE_WINDOW / 2) {
      this.send(encodeWindowUpdate(streamId, stream.unacknowledged));
      stream.unacknowledged = 0;
    }
    const data = this.unpad(flags, payload, 0);
    if (data.length > 0) stream.onData?.(data);
    if (endStream && stream.state === 'open') {
      stream.state = 'half-closed';
      stream.onEnd?.();
    }
  }
}
