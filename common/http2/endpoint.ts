/**
 * What both ends of an HTTP/2 connection (RFC 9113) do the same way: frames
 * read as the bytes arrive; SETTINGS, PING, WINDOW_UPDATE and GOAWAY; header
 * blocks with CONTINUATION and padding, decoded by HPACK (hpack.ts) whatever
 * becomes of their stream, so the table stays the peer's; flow control both
 * ways (what is sent waits for the peer's windows and is cut to its
 * SETTINGS_MAX_FRAME_SIZE; what is received is acknowledged as it arrives);
 * everything sent in one turn of the loop in one write; reading paused while
 * the peer does not read what it is sent, or while the side that owns the
 * connection holds its frames (holdFrames: the server's bound on the work its
 * calls started). A protocol violation ends the connection with GOAWAY
 * naming it.
 *
 * The server (connection.ts) and the client (client-connection.ts) add what
 * differs: who opens streams, what a header block means, when a stream ends.
 */
import type { Socket } from 'node:net';
import {
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
import { CompressionError, HpackDecoder, type HeaderField } from './hpack';

const NOTHING = Buffer.alloc(0);

/** SETTINGS_MAX_HEADER_LIST_SIZE: gRPC metadata is small; grpc-go's own default limit is 16 MiB, node's 64 KiB. */
export const MAX_HEADER_LIST_BYTES = 64 * 1024;

/** A violation the whole connection ends for (RFC 9113 5.4.1). */
export class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** An RST_STREAM that ended a stream: its error code, and whether the peer sent it. */
export interface StreamReset {
  code: number;
  byPeer: boolean;
}

/** open: both sides may send; half-closed: the peer has ended its side; closed: nothing more either way. */
export type StreamState = 'open' | 'half-closed' | 'closed';

/** What the endpoint keeps of a stream for flow control; each side's stream class adds its own. */
export interface FlowStream {
  readonly id: number;
  state: StreamState;
  /** What the peer lets this side send on this stream. */
  sendWindow: number;
  /** Data waiting for a window, and the trailers that end the stream after it (none: the last DATA frame ends it). */
  pending: { data: Buffer[]; trailers?: Buffer } | undefined;
  /** Received and not yet acknowledged with a WINDOW_UPDATE. */
  unacknowledged: number;
}

export interface EndpointOptions {
  /** Bytes sent before the SETTINGS frame (the client's preface). */
  preface?: Buffer;
  /**
   * This side's settings besides those every endpoint here sends: SETTINGS_ENABLE_PUSH 0
   * (PUSH_PROMISE is refused either way), SETTINGS_MAX_HEADER_LIST_SIZE (the limit
   * decodeHeaderBlock enforces) and SETTINGS_INITIAL_WINDOW_SIZE (from streamWindow).
   */
  settings: ReadonlyArray<readonly [id: number, value: number]>;
  /** Each stream's receive window, and the connection's (raised from 65,535 at the start). */
  streamWindow: number;
  connectionWindow: number;
  /** "client" or "server", for messages. */
  peer: string;
}

export abstract class H2Endpoint<S extends FlowStream> {
  protected readonly streams = new Map<number, S>();
  protected dead = false;
  protected peerInitialWindow = DEFAULT_WINDOW;
  private buffered: Buffer = Buffer.alloc(0);
  private settingsSeen = false;
  private readonly decoder = new HpackDecoder();
  /** A header block being continued (CONTINUATION frames follow for this stream). */
  private continuing: { streamId: number; endStream: boolean; fragments: Buffer[]; size: number } | undefined;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private connectionSendWindow = DEFAULT_WINDOW;
  private connectionUnacknowledged = 0;
  /** Streams whose data waits for a window, in the order they asked. */
  private readonly blocked = new Set<S>();
  private output: Buffer[] = [];
  private flushScheduled = false;
  /** The peer does not read what this side sends: the socket is not read until it drains. */
  private outputBlocked = false;
  /** holdFrames: frames already read wait in buffered, the socket is not read, until releaseFrames. */
  private framesHeld = false;
  /** receive() is running (releaseFrames from inside it lets its loop go on instead of entering it again). */
  private receiving = false;
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  protected readonly peer: string;

  constructor(
    protected readonly socket: Socket,
    options: EndpointOptions,
  ) {
    this.streamWindow = options.streamWindow;
    this.connectionWindow = options.connectionWindow;
    this.peer = options.peer;
    socket.setNoDelay?.(true);
    if (options.preface !== undefined) this.send(options.preface);
    this.send(
      encodeSettings([
        ...options.settings,
        [Setting.ENABLE_PUSH, 0],
        [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
        [Setting.INITIAL_WINDOW_SIZE, options.streamWindow],
      ]),
    );
    if (options.connectionWindow > DEFAULT_WINDOW) this.send(encodeWindowUpdate(0, options.connectionWindow - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.socketFailed(error));
    socket.on('close', () => {
      this.dead = true;
      const open = [...this.streams.values()];
      for (const stream of open) stream.state = 'closed';
      this.streams.clear();
      this.blocked.clear();
      this.socketClosed(open);
    });
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  // --- What each side adds ---------------------------------------------------

  /** The peer's first SETTINGS frame (after its preface, if it sends one) has arrived. Default: nothing. */
  protected handshakeReceived(): void {}

  /** The bytes before the first frame, checked; undefined while they are incomplete. Default: none. */
  protected consumePreface(buffered: Buffer): Buffer | undefined {
    return buffered;
  }

  /** A complete header block (fields undefined: over MAX_HEADER_LIST_BYTES, already decoded to keep the table in step). */
  protected abstract headerBlock(streamId: number, endStream: boolean, fields: HeaderField[] | undefined): void;

  /** Whether streamId names a stream neither side has opened yet (DATA or RST_STREAM on it is a violation). */
  protected abstract isIdle(streamId: number): boolean;

  /** Data for a stream the peer has not ended; endStream ends the peer's side. */
  protected abstract streamData(stream: S, data: Buffer, endStream: boolean): void;

  /** This side has sent the stream's last frame. */
  protected abstract localEnded(stream: S): void;

  /** The stream is over (forget): ended normally (no reset), or reset by this side or the peer with an RST_STREAM code. */
  protected abstract streamClosed(stream: S, reset: StreamReset | undefined): void;

  /** The peer sent GOAWAY. */
  protected abstract goAwayReceived(lastStreamId: number, code: number, debug: string): void;

  /** The highest stream id of the peer's this side has processed (GOAWAY's last-stream-id). */
  protected abstract lastPeerStreamId(): number;

  /** The connection broke the protocol (answered with GOAWAY already) or its socket failed. */
  protected abstract connectionFailed(message: string): void;

  /** The socket closed; open holds the streams still open then. */
  protected abstract socketClosed(open: S[]): void;

  protected socketFailed(error: Error): void {
    this.connectionFailed(`${this.peer} connection failed: ${error.message}`);
  }

  // --- Sending ---------------------------------------------------------------

  /** HEADERS for a stream (one frame: header blocks here stay under the default frame size). */
  protected sendHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    this.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block));
  }

  /** A stream's data, as the windows allow, then its trailers or, without them, END_STREAM on the last DATA frame. */
  protected sendData(stream: S, data: readonly Buffer[], trailers?: Buffer): void {
    stream.pending = { data: data.filter((chunk) => chunk.length > 0), trailers };
    this.sendPending(stream);
  }

  private sendPending(stream: S): void {
    const pending = stream.pending;
    if (pending === undefined || stream.state === 'closed') return;
    let endedByData = false;
    while (pending.data.length > 0) {
      const head = pending.data[0]!;
      const size = Math.min(head.length, stream.sendWindow, this.connectionSendWindow, this.peerMaxFrameSize);
      if (size <= 0) {
        this.blocked.add(stream);
        return;
      }
      endedByData = size === head.length && pending.data.length === 1 && pending.trailers === undefined;
      this.send(encodeFrame(FrameType.DATA, endedByData ? Flag.END_STREAM : 0, stream.id, head.subarray(0, size)));
      stream.sendWindow -= size;
      this.connectionSendWindow -= size;
      if (size === head.length) pending.data.shift();
      else pending.data[0] = head.subarray(size);
    }
    this.blocked.delete(stream);
    stream.pending = undefined;
    if (pending.trailers !== undefined) this.sendHeaders(stream.id, pending.trailers, true);
    else if (!endedByData) this.send(encodeFrame(FrameType.DATA, Flag.END_STREAM, stream.id));
    this.localEnded(stream);
  }

  protected resetStream(stream: S, code: number): void {
    this.send(encodeRstStream(stream.id, code));
    this.forget(stream, { code, byPeer: false });
  }

  /** The stream is over, whoever ended it: nothing more is sent on it. */
  protected forget(stream: S, reset?: StreamReset): void {
    stream.state = 'closed';
    stream.pending = undefined;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.streamClosed(stream, reset);
  }

  protected send(frame: Buffer): void {
    this.output.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything sent in this turn of the loop (replies resolved together, acks) goes in one write.
      process.nextTick(() => this.flush());
    }
  }

  protected flush(): void {
    this.flushScheduled = false;
    if (this.output.length === 0 || this.socket.destroyed) {
      this.output = [];
      return;
    }
    const frames = this.output;
    this.output = [];
    const flushed = this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    // A peer that sends without reading what it is sent (a PING or SETTINGS flood, calls whose
    // replies it never reads): stop reading from it until it has read ours. DATA is bounded by
    // its windows already; this bounds everything else.
    if (!flushed && !this.outputBlocked) {
      this.outputBlocked = true;
      this.pauseOrResume();
      this.socket.once('drain', () => {
        this.outputBlocked = false;
        this.pauseOrResume();
      });
    }
  }

  /**
   * Takes no more frames until releaseFrames: those already read stay in the
   * buffer (the frame being handled now finishes), and the socket is not read,
   * so what the peer sends meanwhile waits in the kernel's socket buffer and
   * then in the peer. For a side's own bound on work in progress.
   */
  protected holdFrames(): void {
    this.framesHeld = true;
    this.pauseOrResume();
  }

  /** Takes frames again: those held are handled now (or by the receive() running now, if any). */
  protected releaseFrames(): void {
    if (!this.framesHeld) return;
    this.framesHeld = false;
    this.pauseOrResume();
    if (!this.receiving) this.receive(NOTHING);
  }

  private pauseOrResume(): void {
    if (this.outputBlocked || this.framesHeld) this.socket.pause();
    else this.socket.resume();
  }

  // --- Receiving -------------------------------------------------------------

  private receive(chunk: Buffer): void {
    if (this.dead) return;
    this.buffered = this.buffered.length === 0 ? chunk : chunk.length === 0 ? this.buffered : Buffer.concat([this.buffered, chunk]);
    this.receiving = true;
    try {
      const afterPreface = this.consumePreface(this.buffered);
      if (afterPreface === undefined) return;
      this.buffered = afterPreface;
      let at = 0;
      while (!this.framesHeld && this.buffered.length - at >= FRAME_HEADER_BYTES) {
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
      // Keep only what is not handled yet, an incomplete frame or those held (copied: the chunk it came in is not kept alive).
      this.buffered = at === this.buffered.length ? Buffer.alloc(0) : Buffer.from(this.buffered.subarray(at));
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
      this.fail(error);
    } finally {
      this.receiving = false;
    }
  }

  private fail(error: ConnectionError): void {
    this.send(encodeGoAway(this.lastPeerStreamId(), error.code, error.message));
    this.flush();
    this.dead = true;
    this.connectionFailed(`HTTP/2 protocol error from the ${this.peer}, closing the connection: ${error.message}`);
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `the ${this.peer}'s preface must begin with SETTINGS`);
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
        // A client never may; this side's SETTINGS_ENABLE_PUSH is 0 towards a server.
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `the ${this.peer} sent PUSH_PROMISE`);
      case FrameType.PING:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte PING`);
        if ((flags & Flag.ACK) === 0) this.send(encodeFrame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte GOAWAY`);
        return this.goAwayReceived(payload.readUInt32BE(0) & MAX_WINDOW, payload.readUInt32BE(4), payload.subarray(8).toString('utf8'));
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
    if (!this.settingsSeen) {
      this.settingsSeen = true;
      this.handshakeReceived();
    }
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
      // HEADER_TABLE_SIZE: this side's encoder never indexes. The others bound what the peer receives.
    }
    this.send(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    for (const stream of [...this.blocked]) this.sendPending(stream);
  }

  private windowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte WINDOW_UPDATE`);
    const increment = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a connection WINDOW_UPDATE of 0');
      this.connectionSendWindow += increment;
      if (this.connectionSendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the connection window exceeds 2^31-1');
      for (const stream of [...this.blocked]) this.sendPending(stream);
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

  private rstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a ${payload.length}-byte RST_STREAM`);
    if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.forget(stream, { code: payload.readUInt32BE(0), byPeer: true });
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
    if (flags & Flag.END_HEADERS) this.decodeHeaderBlock(block);
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
      this.decodeHeaderBlock(block);
    }
  }

  private decodeHeaderBlock(block: { streamId: number; endStream: boolean; fragments: Buffer[] }): void {
    let fields: HeaderField[] | undefined;
    try {
      // Decoded whatever becomes of the stream: the decoder's table must follow the peer's.
      fields = this.decoder.decode(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments), MAX_HEADER_LIST_BYTES);
    } catch (error) {
      if (error instanceof CompressionError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, `header block of stream ${block.streamId}: ${error.message}`);
      throw error;
    }
    this.headerBlock(block.streamId, block.endStream, fields);
  }

  private data(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
    // The whole frame, padding included, counts against the windows (RFC 9113 6.9.1).
    this.connectionUnacknowledged += payload.length;
    if (this.connectionUnacknowledged > this.connectionWindow) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `the ${this.peer} sent more than the connection window`);
    if (this.connectionUnacknowledged >= this.connectionWindow / 2) {
      this.send(encodeWindowUpdate(0, this.connectionUnacknowledged));
      this.connectionUnacknowledged = 0;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined || stream.state !== 'open') {
      // A stream this side has closed, or one the peer had ended: nothing to deliver.
      if (stream !== undefined) this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    stream.unacknowledged += payload.length;
    if (stream.unacknowledged > this.streamWindow) {
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!endStream && stream.unacknowledged >= this.streamWindow / 2) {
      this.send(encodeWindowUpdate(streamId, stream.unacknowledged));
      stream.unacknowledged = 0;
    }
    this.streamData(stream, this.unpad(flags, payload, 0), endStream);
  }
}
