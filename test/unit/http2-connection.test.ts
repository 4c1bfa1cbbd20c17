/**
 * The HTTP/2 server connection (common/http2/connection.ts) driven frame by
 * frame from a raw unix socket, as RFC 9113 says a server must answer:
 * a reply in one write, flow control both ways, CONTINUATION, PING,
 * RST_STREAM from the client, GOAWAY with calls in flight, protocol
 * violations answered with GOAWAY naming them, and a deadline on the
 * client's handshake. Real clients (grpc-js,
 * grpc-go through containerd, node:http2) run against it in the
 * integration and e2e tests.
 */
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, Setting, encodeFrame, encodeSettings, encodeWindowUpdate } from '../../common/http2/frames';
import { H2ServerConnection, HANDSHAKE_TIMEOUT_MS, type H2ServerOptions, type H2ServerStream } from '../../common/http2/connection';
import { encodeHeaderBlock, HpackDecoder, type HeaderField } from '../../common/http2/hpack';
import { readFrames, type Frame } from '../support/h2-frames';
import { makeTempDir } from '../support/temp-dir';

/** A server whose calls are answered by answer(), and the socket writes each connection made. */
async function startServer(t: ExecutionContext, answer: (stream: H2ServerStream, body: Buffer) => void, options: H2ServerOptions = {}) {
  const socketPath = path.join(makeTempDir(t, 'h2'), 's.sock');
  const writes: Buffer[][] = [];
  const errors: string[] = [];
  const connections: H2ServerConnection[] = [];
  const server = net.createServer((socket) => {
    const mine: Buffer[] = [];
    writes.push(mine);
    const write = socket.write.bind(socket);
    socket.write = ((chunk: Buffer, ...rest: never[]) => {
      mine.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    }) as typeof socket.write;
    connections.push(
      new H2ServerConnection(socket, {
        onRequest: (stream) => {
          const chunks: Buffer[] = [];
          stream.onData = (chunk) => chunks.push(chunk);
          stream.onEnd = () => answer(stream, Buffer.concat(chunks));
        },
        onError: (message) => errors.push(message),
      }, options),
    );
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => {
    connections.forEach((c) => c.destroy());
    server.close();
  });
  return { socketPath, writes, errors, connections };
}

/** A raw client: sends bytes, collects the server's frames. */
async function connect(socketPath: string, settings: ReadonlyArray<readonly [number, number]> = []) {
  const socket = net.connect(socketPath);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const reader = readFrames(socket);
  socket.write(Buffer.concat([CLIENT_PREFACE, encodeSettings(settings)]));
  return { socket, ...reader };
}

const REQUEST: HeaderField[] = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/svc/Method'],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
];

function request(streamId: number, body: Buffer, headers = REQUEST): Buffer {
  return Buffer.concat([encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, encodeHeaderBlock(headers)), encodeFrame(FrameType.DATA, Flag.END_STREAM, streamId, body)]);
}

const echo = (stream: H2ServerStream, body: Buffer) => stream.reply([[':status', '200']], body, [['grpc-status', '0']]);
const forStream = (frames: Frame[], id: number) => frames.filter((f) => f.streamId === id);
const goAwayCode = (frames: Frame[]) => frames.find((f) => f.type === FrameType.GOAWAY)?.payload.readUInt32BE(4);

test('a reply — headers, message, trailers ending the stream — leaves in one write', async (t) => {
  const server = await startServer(t, echo);
  const client = await connect(server.socketPath);
  client.socket.write(request(1, Buffer.from('hello')));
  await client.until(() => forStream(client.frames, 1).some((f) => f.flags & Flag.END_STREAM), 'the reply');
  const reply = forStream(client.frames, 1);
  t.deepEqual(
    reply.map((f) => [f.type, f.flags]),
    [
      [FrameType.HEADERS, Flag.END_HEADERS],
      [FrameType.DATA, 0],
      [FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM],
    ],
  );
  t.is(reply[1]!.payload.toString(), 'hello');
  const decoder = new HpackDecoder();
  t.deepEqual(decoder.decode(reply[2]!.payload, 1000), [['grpc-status', '0']]);
  const writesWithStream1 = server.writes[0]!.filter((w) => w.includes(Buffer.from('hello')));
  t.is(writesWithStream1.length, 1);
  t.true(writesWithStream1[0]!.includes(reply[2]!.payload), 'the trailers are in the write that carries the message');
});

test("flow control: a reply waits for the client's stream and connection windows and is cut to its frame size", async (t) => {
  const body = Buffer.alloc(40_000, 'x');
  const server = await startServer(t, (stream) => echo(stream, body));
  const client = await connect(server.socketPath, [[Setting.INITIAL_WINDOW_SIZE, 10_000]]);
  client.socket.write(request(1, Buffer.from('go')));
  await client.until(() => forStream(client.frames, 1).filter((f) => f.type === FrameType.DATA).length >= 1, 'the first DATA');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const sent = () => forStream(client.frames, 1).filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
  t.is(sent(), 10_000, 'no more than the stream window');
  t.false(client.frames.some((f) => f.streamId === 1 && f.flags & Flag.END_STREAM));
  client.socket.write(encodeWindowUpdate(1, 100_000));
  // The stream window now allows the rest (30,000), within the connection's 65,535.
  await client.until(() => forStream(client.frames, 1).some((f) => f.flags & Flag.END_STREAM), 'the end of the reply');
  t.is(sent(), 40_000);
  t.true(forStream(client.frames, 1).every((f) => f.payload.length <= 16_384));
});

test('a header block split over CONTINUATION frames, and DATA with padding, make one request', async (t) => {
  let seen: { path: string | undefined; body: string } | undefined;
  const server = await startServer(t, (stream, body) => {
    seen = { path: stream.headers.get(':path'), body: body.toString() };
    echo(stream, body);
  });
  const client = await connect(server.socketPath);
  const block = encodeHeaderBlock(REQUEST);
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from('abc'), Buffer.alloc(3)]);
  client.socket.write(
    Buffer.concat([
      encodeFrame(FrameType.HEADERS, 0, 1, block.subarray(0, 10)),
      encodeFrame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 20)),
      encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(20)),
      encodeFrame(FrameType.DATA, Flag.END_STREAM | Flag.PADDED, 1, padded),
    ]),
  );
  await client.until(() => seen !== undefined, 'the request');
  t.deepEqual(seen, { path: '/svc/Method', body: 'abc' });
});

test('PING is answered with its payload; SETTINGS is acknowledged', async (t) => {
  const server = await startServer(t, echo);
  const client = await connect(server.socketPath);
  client.socket.write(encodeFrame(FrameType.PING, 0, 0, Buffer.from('12345678')));
  await client.until(() => client.frames.some((f) => f.type === FrameType.PING), 'the PING ack');
  const ping = client.frames.find((f) => f.type === FrameType.PING)!;
  t.is(ping.flags, Flag.ACK);
  t.is(ping.payload.toString(), '12345678');
  t.true(client.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK));
});

test('a call the client resets before its reply gets no reply; the connection goes on', async (t) => {
  const held: H2ServerStream[] = [];
  const server = await startServer(t, (stream, body) => (body.toString() === 'hold' ? held.push(stream) : echo(stream, body)));
  const client = await connect(server.socketPath);
  client.socket.write(request(1, Buffer.from('hold')));
  await client.until(() => held.length === 1, 'the held call');
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(ErrorCode.CANCEL);
  client.socket.write(encodeFrame(FrameType.RST_STREAM, 0, 1, rst));
  await new Promise((resolve) => setTimeout(resolve, 50));
  echo(held[0]!, Buffer.from('late'));
  client.socket.write(request(3, Buffer.from('next')));
  await client.until(() => forStream(client.frames, 3).some((f) => f.flags & Flag.END_STREAM), 'the next reply');
  t.deepEqual(forStream(client.frames, 1), []);
  t.is(server.connections[0]!.activeStreams, 0);
});

test('GOAWAY with a call in flight: the call still gets its reply, new calls are not taken, then the connection ends', async (t) => {
  const held: H2ServerStream[] = [];
  const taken: number[] = [];
  const server = await startServer(t, (stream) => {
    taken.push(stream.id);
    held.push(stream);
  });
  const client = await connect(server.socketPath);
  client.socket.write(request(1, Buffer.from('a')));
  await client.until(() => held.length === 1, 'the call');
  server.connections[0]!.goAway();
  await client.until(() => client.frames.some((f) => f.type === FrameType.GOAWAY), 'GOAWAY');
  t.is(client.frames.find((f) => f.type === FrameType.GOAWAY)!.payload.readUInt32BE(0), 1, 'last stream id 1');
  client.socket.write(request(3, Buffer.from('b')));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(taken, [1]);
  echo(held[0]!, Buffer.from('done'));
  await client.until(() => client.isEnded(), 'the end of the connection');
  t.true(forStream(client.frames, 1).some((f) => f.flags & Flag.END_STREAM));
});

const violations: Array<[string, () => Buffer, number]> = [
  ['a frame over 16,384 bytes', () => encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_385)), ErrorCode.FRAME_SIZE_ERROR],
  ['HEADERS on an even stream', () => encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 2, encodeHeaderBlock(REQUEST)), ErrorCode.PROTOCOL_ERROR],
  ['DATA on a stream never opened', () => encodeFrame(FrameType.DATA, 0, 5, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
  ['a header block interrupted by another frame', () => Buffer.concat([encodeFrame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])), encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8))]), ErrorCode.PROTOCOL_ERROR],
  ['a header block HPACK cannot decode', () => encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])), ErrorCode.COMPRESSION_ERROR],
  ['PUSH_PROMISE from a client', () => encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), ErrorCode.PROTOCOL_ERROR],
  ['a 7-byte PING', () => encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(7)), ErrorCode.FRAME_SIZE_ERROR],
  ['a connection WINDOW_UPDATE overflowing 2^31-1', () => encodeWindowUpdate(0, 2 ** 31 - 1), ErrorCode.FLOW_CONTROL_ERROR],
  ['padding longer than its frame', () => Buffer.concat([encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, encodeHeaderBlock(REQUEST)), encodeFrame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([9, 1]))]), ErrorCode.PROTOCOL_ERROR],
];

for (const [what, bytes, code] of violations) {
  test(`protocol violation, ${what}: GOAWAY with error ${code} naming it, and the connection ends`, async (t) => {
    const server = await startServer(t, echo);
    const client = await connect(server.socketPath);
    client.socket.write(bytes());
    await client.until(() => client.isEnded(), 'the end of the connection');
    t.is(goAwayCode(client.frames), code);
    t.is(server.errors.length, 1);
    t.regex(server.errors[0]!, /protocol error/);
  });
}

test('a client that does not speak HTTP/2 (an HTTP/1 request) is disconnected', async (t) => {
  const server = await startServer(t, echo);
  const socket = net.connect(server.socketPath);
  socket.resume();
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.regex(server.errors[0] ?? '', /not an HTTP\/2 client preface/);
});

test('a client that floods PINGs without reading the acks is no longer read from: what the server buffers stays bounded', async (t) => {
  const server = await startServer(t, echo);
  const client = await connect(server.socketPath);
  client.socket.pause(); // never reads from here on
  const pings = Buffer.concat(Array.from({ length: 10_000 }, () => encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8))));
  // 100,000 PINGs (1.7 MB); their acks are as large. Written without waiting: the kernel's buffers fill.
  for (let i = 0; i < 10; i++) client.socket.write(pings);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const acked = server.writes[0]!.reduce((n, w) => n + w.length, 0);
  t.log(`server wrote ${acked} bytes of acks before it stopped reading`);
  t.true(acked < 1_700_000, `the server kept reading and buffering acks: ${acked} bytes`);
  client.socket.destroy();
});

test("a client that has not sent its preface and SETTINGS within the handshake limit is disconnected, saying why; one that has may stay idle past it", async (t) => {
  t.is(HANDSHAKE_TIMEOUT_MS, 120_000, "grpc-go's default ConnectionTimeout");
  const server = await startServer(t, echo, { handshakeTimeoutMs: 300 });
  const raw = async (bytes: Buffer) => {
    const socket = net.connect(server.socketPath);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    t.teardown(() => socket.destroy());
    socket.write(bytes);
    return readFrames(socket);
  };
  const started = Date.now();
  const silent = await raw(Buffer.alloc(0));
  const prefaceOnly = await raw(CLIENT_PREFACE);
  const client = await connect(server.socketPath);
  await silent.until(() => silent.isEnded() && prefaceOnly.isEnded(), 'both connections without a handshake to close');
  t.true(Date.now() - started >= 250, `closed after ${Date.now() - started} ms`);
  t.deepEqual(server.errors, Array(2).fill('no HTTP/2 handshake (the client preface and its SETTINGS) within 0.3 s of connecting: closing the connection'));

  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(client.isEnded(), 'a client past its handshake is not held to the limit');
  client.socket.write(request(1, Buffer.from('still here')));
  await client.until(() => forStream(client.frames, 1).some((f) => f.flags & Flag.END_STREAM), 'the reply');
  t.is(forStream(client.frames, 1)[1]!.payload.toString(), 'still here');
});
