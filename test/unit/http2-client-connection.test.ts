/**
 * The HTTP/2 client connection (common/http2/client-connection.ts) against a
 * server scripted frame by frame over a real unix socket: what a request
 * looks like on the wire, the server's windows honoured, and how a request
 * fails when the server resets it, goes away, sends too much or breaks the
 * protocol — with RFC 9113's rule for what may be retried (a stream refused
 * or above GOAWAY's last stream id was not processed). Its behaviour with a
 * real server (grpc-go) is in test/integration/grpc-unix-client.test.ts.
 */
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { H2ClientConnection, StreamFailure, type H2Response } from '../../common/http2/client-connection';
import { ErrorCode, Flag, FrameType, Setting, encodeFrame, encodeGoAway, encodeRstStream, encodeSettings, encodeWindowUpdate } from '../../common/http2/frames';
import { encodeHeaderBlock, HpackDecoder, type HeaderField } from '../../common/http2/hpack';
import { readFrames, type FrameReader } from '../support/h2-frames';
import { makeTempDir } from '../support/temp-dir';

const REQUEST: HeaderField[] = [
  [':method', 'POST'],
  [':path', '/svc/Method'],
];

/** A client connected to a scripted server; the server's SETTINGS (settings) are sent at once. */
async function pair(t: ExecutionContext, settings: ReadonlyArray<readonly [number, number]> = []) {
  const socketPath = path.join(makeTempDir(t, 'h2c'), 's.sock');
  let accepted!: (value: { socket: net.Socket; reader: FrameReader }) => void;
  const serverSide = new Promise<{ socket: net.Socket; reader: FrameReader }>((resolve) => (accepted = resolve));
  const server = net.createServer((socket) => {
    const reader = readFrames(socket, true);
    socket.write(encodeSettings(settings));
    accepted({ socket, reader });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const client = new H2ClientConnection(net.connect(socketPath));
  t.teardown(() => {
    client.destroy();
    server.close();
  });
  const { socket, reader } = await serverSide;
  return { client, server: socket, ...reader };
}

const headersFrame = (streamId: number, fields: HeaderField[], flags: number) => encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | flags, streamId, encodeHeaderBlock(fields));
const reply = (streamId: number, body: Buffer) =>
  Buffer.concat([headersFrame(streamId, [[':status', '200']], 0), encodeFrame(FrameType.DATA, 0, streamId, body), headersFrame(streamId, [['grpc-status', '0']], Flag.END_STREAM)]);

async function failure(promise: Promise<H2Response>): Promise<StreamFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StreamFailure) return error;
    throw error;
  }
  throw new Error('the request did not fail');
}

test('a request: HEADERS, then its body ending the stream; the reply comes back whole', async (t) => {
  const { client, server, frames, until } = await pair(t);
  const response = client.request(REQUEST, Buffer.from('hello'), 1024);
  await until(() => frames.some((f) => f.type === FrameType.DATA), 'the body');
  const settings = frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0)!;
  t.true(settings.payload.includes(Buffer.from([0, Setting.ENABLE_PUSH, 0, 0, 0, 0])), 'push disabled');
  const headers = frames.find((f) => f.type === FrameType.HEADERS)!;
  t.is(headers.streamId, 1);
  t.deepEqual(new HpackDecoder().decode(headers.payload, 1 << 16), REQUEST);
  const data = frames.find((f) => f.type === FrameType.DATA)!;
  t.is(data.flags & Flag.END_STREAM, Flag.END_STREAM);
  t.is(data.payload.toString(), 'hello');
  server.write(reply(1, Buffer.from('world')));
  const { headers: got, body, trailers } = await response;
  t.is(got.get(':status'), '200');
  t.is(body.toString(), 'world');
  t.is(trailers?.get('grpc-status'), '0');
  await until(() => frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0), "the ack of the server's SETTINGS");
});

test("the body waits for the server's windows: 10 bytes, then the rest after its WINDOW_UPDATE", async (t) => {
  const { client, server, frames, until } = await pair(t, [[Setting.INITIAL_WINDOW_SIZE, 10]]);
  // The first request may leave before the SETTINGS arrive; a second one certainly sees them.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const response = client.request(REQUEST, Buffer.alloc(25, 1), 1024);
  await until(() => frames.some((f) => f.type === FrameType.DATA), 'the first DATA');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(
    frames.filter((f) => f.type === FrameType.DATA).map((f) => [f.payload.length, f.flags]),
    [[10, 0]],
  );
  server.write(encodeWindowUpdate(1, 15));
  await until(() => frames.filter((f) => f.type === FrameType.DATA).length === 2, 'the rest');
  t.is(frames.filter((f) => f.type === FrameType.DATA).at(-1)!.flags & Flag.END_STREAM, Flag.END_STREAM);
  t.is(frames.filter((f) => f.type === FrameType.DATA).at(-1)!.payload.length, 15);
  server.write(reply(1, Buffer.alloc(0)));
  await response;
});

test('RST_STREAM: REFUSED_STREAM was not processed (may be retried); CANCEL was', async (t) => {
  const { client, server, frames, until } = await pair(t);
  const refused = client.request(REQUEST, Buffer.from('a'), 1024);
  const cancelled = client.request(REQUEST, Buffer.from('b'), 1024);
  await until(() => frames.filter((f) => f.type === FrameType.DATA).length === 2, 'both bodies');
  server.write(Buffer.concat([encodeRstStream(1, ErrorCode.REFUSED_STREAM), encodeRstStream(3, ErrorCode.CANCEL)]));
  const a = await failure(refused);
  t.false(a.reachedServer);
  t.is(a.resetCode, ErrorCode.REFUSED_STREAM);
  const b = await failure(cancelled);
  t.true(b.reachedServer);
  t.is(b.resetCode, ErrorCode.CANCEL);
  t.regex(b.message, /reset the stream \(CANCEL\)/);
  t.true(client.usable, 'the connection itself is fine');
});

test('GOAWAY: streams above its last id fail as not processed, the one below still gets its reply, no new requests', async (t) => {
  const { client, server, frames, until } = await pair(t);
  const first = client.request(REQUEST, Buffer.from('a'), 1024);
  const second = client.request(REQUEST, Buffer.from('b'), 1024);
  await until(() => frames.filter((f) => f.type === FrameType.DATA).length === 2, 'both bodies');
  server.write(encodeGoAway(1, ErrorCode.NO_ERROR, 'draining'));
  const lost = await failure(second);
  t.false(lost.reachedServer);
  t.regex(lost.message, /going away \(GOAWAY NO_ERROR: draining\)/);
  t.false(client.usable);
  t.false((await failure(client.request(REQUEST, Buffer.from('c'), 1024))).reachedServer);
  server.write(reply(1, Buffer.from('done')));
  t.is((await first).body.toString(), 'done');
});

test('a reply over the size limit: the request fails and the stream is cancelled', async (t) => {
  const { client, server, frames, until } = await pair(t);
  const response = client.request(REQUEST, Buffer.from('a'), 100);
  await until(() => frames.some((f) => f.type === FrameType.DATA), 'the body');
  server.write(Buffer.concat([headersFrame(1, [[':status', '200']], 0), encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(101))]));
  t.regex((await failure(response)).message, /exceeds 100 bytes/);
  await until(() => frames.some((f) => f.type === FrameType.RST_STREAM), 'RST_STREAM');
  t.is(frames.find((f) => f.type === FrameType.RST_STREAM)!.payload.readUInt32BE(0), ErrorCode.CANCEL);
});

const violations: Array<[string, Buffer]> = [
  ['PUSH_PROMISE', encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))],
  ['HEADERS on an even stream the client never opened', headersFrame(2, [[':status', '200']], Flag.END_STREAM)],
  ['DATA on a stream not yet opened', encodeFrame(FrameType.DATA, 0, 9, Buffer.from('x'))],
];

for (const [what, bytes] of violations) {
  test(`a server that breaks the protocol (${what}): GOAWAY PROTOCOL_ERROR, and the requests in flight fail`, async (t) => {
    const { client, server, frames, until, isEnded } = await pair(t);
    const response = client.request(REQUEST, Buffer.from('a'), 1024);
    await until(() => frames.some((f) => f.type === FrameType.DATA), 'the body');
    server.write(bytes);
    await until(() => isEnded(), 'the end of the connection');
    t.is(frames.find((f) => f.type === FrameType.GOAWAY)?.payload.readUInt32BE(4), ErrorCode.PROTOCOL_ERROR);
    t.regex((await failure(response)).message, /protocol error from the server/);
    t.false(client.usable);
  });
}
