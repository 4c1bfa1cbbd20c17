/**
 * UnixGrpcServer's order of work within one turn of the event loop: a reply
 * its handler computes at once (a read answered from memory) is written out
 * before the next call of the same chunk runs its synchronous work (a write's
 * metadata transaction), not at the end of the turn behind it. And calls held
 * while a daemon starts on systemd's socket (holdCalls): the handshake is
 * answered at once, the calls run at openCalls, in order, on the methods
 * registered meanwhile. And the work calls start, which outlives a call its
 * client resets: bounded per connection (HTTP/2 rapid reset), and waited for
 * by shutdown. And the request bodies the server holds before their calls
 * start, bounded across every connection.
 */
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import winston from 'winston';
import { UnixGrpcServer, unary } from '../../common/grpc-unix-server';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, encodeFrame, encodeRstStream, encodeSettings } from '../../common/http2/frames';
import { MAX_CONCURRENT_STREAMS } from '../../common/http2/connection';
import { HpackDecoder, encodeHeaderBlock, type HeaderField } from '../../common/http2/hpack';
import { framedMessage } from '../../common/grpc-wire';
import { snapshotsServiceCodecs } from '../../snapshotter/grpc-server';
import { readFrames } from '../support/h2-frames';
import { makeTempDir } from '../support/temp-dir';

const SERVICE = '/containerd.services.snapshots.v1.Snapshots';

/** A call's HEADERS frame (not ending the stream). */
function headersFrame(streamId: number, method: string): Buffer {
  const headers: HeaderField[] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', `${SERVICE}/${method}`],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ];
  return encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, encodeHeaderBlock(headers));
}

/** The server listening on a fresh socket (shut down at the test's end), and a raw client connected to it, reading its frames. */
async function listenAndConnect(t: Parameters<typeof makeTempDir>[0], server: UnixGrpcServer, name: string) {
  const socketPath = path.join(makeTempDir(t, name), 's.sock');
  await server.listen(socketPath);
  t.teardown(() => server.shutdown(0));
  const client = net.connect(socketPath);
  t.teardown(() => client.destroy());
  return { client, reader: readFrames(client) };
}

function request(streamId: number, method: string, body: Buffer): Buffer {
  return Buffer.concat([headersFrame(streamId, method), encodeFrame(FrameType.DATA, Flag.END_STREAM, streamId, framedMessage(body))]);
}

test('a reply computed at once leaves before a later call of the same chunk does its synchronous work; a reply that waits leaves with its turn', async (t) => {
  const codecs = snapshotsServiceCodecs();
  const events: string[] = [];
  const server = new UnixGrpcServer({ logger: winston.createLogger({ silent: true }) });
  server.addService(codecs, {
    Stat: unary((r) => ({ info: { name: String(r.key) } })),
    Prepare: unary(async (r) => {
      events.push(`Prepare ${String(r.key)} runs`);
      await new Promise((resolve) => setImmediate(resolve));
      return { mounts: [{ type: 'bind', source: String(r.key), options: [] }] };
    }),
  });
  const socketPath = path.join(makeTempDir(t, 'grpc-order'), 's.sock');
  await server.listen(socketPath);
  t.teardown(() => server.shutdown(0));

  // Every write of the server's sockets, by what it carries.
  const client = net.connect(socketPath);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const write = net.Socket.prototype.write;
  t.teardown(() => {
    net.Socket.prototype.write = write;
    client.destroy();
  });
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (this !== client && Buffer.isBuffer(chunk)) {
      for (const key of ['stat-key', 'prepare-key']) if (chunk.includes(Buffer.from(key))) events.push(`reply to ${key.split('-')[0]} written`);
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;

  const reader = readFrames(client);
  const stat = codecs.Stat!.requestSerialize({ key: 'stat-key' });
  const prepare = codecs.Prepare!.requestSerialize({ key: 'prepare-key', parent: '' });
  // One chunk: the Stat first, then the Prepare.
  client.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), request(1, 'Stat', stat), request(3, 'Prepare', prepare)]));
  await reader.until(() => [1, 3].every((id) => reader.frames.some((f) => f.streamId === id && (f.flags & Flag.END_STREAM) !== 0)), 'both replies');
  t.deepEqual(events, ['reply to stat written', 'Prepare prepare-key runs', 'reply to prepare written']);
});

test('held calls: the handshake is answered at once, the calls (bodies in pieces, one over the size limit) run at openCalls on methods added meanwhile', async (t) => {
  const codecs = snapshotsServiceCodecs();
  const server = new UnixGrpcServer({ logger: winston.createLogger({ silent: true }), maxReceiveBytes: 64 });
  server.holdCalls();
  const { client, reader } = await listenAndConnect(t, server, 'grpc-held');
  const stat = (key: string) => codecs.Stat!.requestSerialize({ key });
  // Stream 1 in one piece; stream 3 with its DATA in two frames; stream 5 over the 64-byte limit.
  const split = framedMessage(stat('second'));
  client.write(
    Buffer.concat([
      CLIENT_PREFACE,
      encodeSettings([]),
      request(1, 'Stat', stat('first')),
      headersFrame(3, 'Stat'),
      encodeFrame(FrameType.DATA, 0, 3, split.subarray(0, 4)),
      request(5, 'Stat', stat('x'.repeat(100))),
    ]),
  );
  await reader.until(() => reader.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0), "the server's SETTINGS");
  // The call over the limit is refused while held; the others wait.
  await reader.until(() => reader.frames.some((f) => f.streamId === 5 && (f.flags & Flag.END_STREAM) !== 0), 'the refusal of stream 5');
  const refusal = new Map(new HpackDecoder().decode(reader.frames.find((f) => f.streamId === 5 && f.type === FrameType.HEADERS)!.payload, 65536));
  t.is(refusal.get('grpc-status'), '8', 'RESOURCE_EXHAUSTED');
  t.regex(refusal.get('grpc-message') ?? '', /^Received message larger than max \(\d+ vs 64\)$/);
  client.write(encodeFrame(FrameType.DATA, Flag.END_STREAM, 3, split.subarray(4)));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(reader.frames.some((f) => f.streamId === 1 || f.streamId === 3), 'no reply while held');

  const order: string[] = [];
  server.addService(codecs, {
    Stat: unary((r) => {
      order.push(String(r.key));
      return { info: { name: String(r.key) } };
    }),
  });
  server.openCalls();
  await reader.until(() => [1, 3].every((id) => reader.frames.some((f) => f.streamId === id && (f.flags & Flag.END_STREAM) !== 0)), 'both replies');
  t.deepEqual(order, ['first', 'second'], 'in the order they came, each with its whole body');
  for (const [id, key] of [[1, 'first'], [3, 'second']] as const) {
    const data = reader.frames.find((f) => f.streamId === id && f.type === FrameType.DATA);
    t.truthy(data, `stream ${id} got its message`);
    t.true(data!.payload.includes(Buffer.from(key)), `stream ${id}: Stat of ${key}`);
  }
});

test('a server made without a logger keeps what it logs (a client that is not HTTP/2) and writes it to the logger useLogger gives it', async (t) => {
  const server = new UnixGrpcServer({});
  server.holdCalls();
  const socketPath = path.join(makeTempDir(t, 'grpc-early-log'), 's.sock');
  await server.listen(socketPath);
  t.teardown(() => server.shutdown(0));
  const client = net.connect(socketPath);
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  client.resume();
  await new Promise<void>((resolve) => client.once('close', () => resolve()));

  const lines: Array<{ level: string; message: string }> = [];
  const logger = winston.createLogger({
    level: 'debug',
    transports: [new winston.transports.Stream({ stream: new Writable({ objectMode: true, write: (info: { level: string; message: string }, _e, done) => (lines.push(info), done()) }) })],
  });
  t.deepEqual(lines, [], 'nothing written before');
  server.useLogger(logger);
  t.true(lines.some((line) => line.level === 'debug' && /not an HTTP\/2 client preface/.test(line.message)), JSON.stringify(lines));
});

/** A server whose Prepare handler runs until the test lets it finish (finishAll), counting how many run at once. */
async function serverWithHeldPrepares(t: Parameters<typeof makeTempDir>[0], logger = winston.createLogger({ silent: true })) {
  const codecs = snapshotsServiceCodecs();
  const waiting: Array<() => void> = [];
  const counts = { started: 0, running: 0, mostRunning: 0 };
  const server = new UnixGrpcServer({ logger });
  server.addService(codecs, {
    Prepare: unary(async () => {
      counts.started += 1;
      counts.running += 1;
      counts.mostRunning = Math.max(counts.mostRunning, counts.running);
      await new Promise<void>((resolve) => waiting.push(resolve));
      counts.running -= 1;
      return { mounts: [] };
    }),
  });
  const socketPath = path.join(makeTempDir(t, 'grpc-work'), 's.sock');
  await server.listen(socketPath);
  const client = net.connect(socketPath);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  t.teardown(() => client.destroy());
  const prepare = (streamId: number) => request(streamId, 'Prepare', codecs.Prepare!.requestSerialize({ key: `k${streamId}`, parent: '' }));
  const finishAll = () => {
    for (const finish of waiting.splice(0)) finish();
  };
  return { server, client, counts, prepare, finishAll };
}

async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('rapid reset: calls each reset as soon as sent start at most MAX_CONCURRENT_STREAMS handlers; the connection takes no more frames (a PING) until some finish', async (t) => {
  const { server, client, counts, prepare, finishAll } = await serverWithHeldPrepares(t);
  t.teardown(() => {
    finishAll();
    return server.shutdown(0);
  });
  const reader = readFrames(client);
  const calls = MAX_CONCURRENT_STREAMS + 200;
  const frames = [CLIENT_PREFACE, encodeSettings([])];
  // Each call whole (HEADERS, DATA ending it) and reset at once: its stream is closed before the handler has done anything.
  for (let i = 0; i < calls; i++) frames.push(prepare(1 + 2 * i), encodeRstStream(1 + 2 * i, ErrorCode.CANCEL));
  frames.push(encodeFrame(FrameType.PING, 0, 0, Buffer.from('after-it')));
  client.write(Buffer.concat(frames));

  await waitFor(() => counts.started >= MAX_CONCURRENT_STREAMS, `${MAX_CONCURRENT_STREAMS} handlers`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(counts.started, MAX_CONCURRENT_STREAMS, 'no handler beyond the bound, though every stream is closed');
  const pingAck = () => reader.frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
  t.false(pingAck(), 'the frames after them wait');

  // As handlers finish, the rest start, and then the PING is answered.
  while (counts.started < calls) {
    finishAll();
    await waitFor(() => counts.running > 0 || counts.started === calls, 'the next handlers');
  }
  finishAll();
  await reader.until(pingAck, 'the PING ack');
  t.is(counts.started, calls, 'every call ran');
  t.is(counts.mostRunning, MAX_CONCURRENT_STREAMS, 'never more at once than the bound');
  // Only the call that reached the bound may have been replied to: its reset was among the frames held.
  const replied = new Set(reader.frames.filter((f) => f.streamId !== 0 && (f.type === FrameType.HEADERS || f.type === FrameType.DATA)).map((f) => f.streamId));
  t.true([...replied].every((id) => id === 2 * MAX_CONCURRENT_STREAMS - 1), `no reply to a call whose reset was read before its handler finished: ${[...replied].join(', ')}`);
});

test('shutdown waits for the handlers of a call its client reset and of one whose connection closed, then resolves; past graceMs it resolves anyway and says how many still run', async (t) => {
  const { server, client, counts, prepare, finishAll } = await serverWithHeldPrepares(t);
  t.teardown(finishAll);
  client.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), prepare(1), encodeRstStream(1, ErrorCode.CANCEL), prepare(3)]));
  await waitFor(() => counts.running === 2, 'both handlers');
  client.destroy();
  let stopped = false;
  const stopping = server.shutdown(10_000).then(() => (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(stopped, 'not while the handlers run, though no call is open');
  finishAll();
  await stopping;
  t.is(counts.running, 0);

  const lines: Array<{ message: string; handlers_running?: number }> = [];
  const logger = winston.createLogger({
    transports: [new winston.transports.Stream({ stream: new Writable({ objectMode: true, write: (info: { message: string }, _e, done) => (lines.push(info), done()) }) })],
  });
  const stuck = await serverWithHeldPrepares(t, logger);
  t.teardown(stuck.finishAll);
  stuck.client.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), stuck.prepare(1), encodeRstStream(1, ErrorCode.CANCEL)]));
  await waitFor(() => stuck.counts.running === 1, 'the handler');
  const started = Date.now();
  await stuck.server.shutdown(300);
  t.true(Date.now() - started >= 290, 'after the grace period');
  t.like(lines.find((line) => /did not finish in time/.test(line.message)), { handlers_running: 1 });
});

test('held calls count against the same bound, reset ones included: past MAX_CONCURRENT_STREAMS the connection takes no more frames until openCalls', async (t) => {
  const { server, client, counts, prepare, finishAll } = await serverWithHeldPrepares(t);
  t.teardown(() => {
    finishAll();
    return server.shutdown(0);
  });
  server.holdCalls();
  const reader = readFrames(client);
  const frames = [CLIENT_PREFACE, encodeSettings([])];
  for (let i = 0; i < MAX_CONCURRENT_STREAMS + 10; i++) frames.push(prepare(1 + 2 * i), encodeRstStream(1 + 2 * i, ErrorCode.CANCEL));
  frames.push(encodeFrame(FrameType.PING, 0, 0, Buffer.from('after-it')));
  client.write(Buffer.concat(frames));
  const pingAck = () => reader.frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
  await reader.until(() => reader.frames.some((f) => f.type === FrameType.SETTINGS), "the server's SETTINGS");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(pingAck(), 'each held call and its body is kept until openCalls: the frames after the bound wait');
  server.openCalls();
  await reader.until(pingAck, 'the PING ack');
  // The 10 past the bound were read after openCalls, each whole before its reset: they ran. None of the held ones did.
  t.is(counts.started, 10, 'a held call reset before openCalls never runs');
});

test('request bodies not yet whole are bounded across the server: one that would pass the limit is refused with RESOURCE_EXHAUSTED; a reset call, and one that has started, give their share back', async (t) => {
  const codecs = snapshotsServiceCodecs();
  const server = new UnixGrpcServer({ logger: winston.createLogger({ silent: true }), maxBufferedRequestBytes: 1024 * 1024 });
  // A key of 'h's: the handler waits until the test ends (a call whose body is whole and whose work goes on).
  let endHeld!: () => void;
  const held = new Promise<void>((resolve) => (endHeld = resolve));
  t.teardown(() => endHeld());
  server.addService(codecs, {
    Prepare: unary(async (r) => {
      if (String(r.key).startsWith('h')) await held;
      return { mounts: [] };
    }),
  });
  const { client, reader } = await listenAndConnect(t, server, 'grpc-bodies');
  /** 600 KiB of a Prepare's body in 16-KiB DATA frames, the last one ending the stream if end. */
  const body = (streamId: number, end: boolean, key = 'k') => {
    const bytes = framedMessage(codecs.Prepare!.requestSerialize({ key: key.repeat(600 * 1024), parent: '' }));
    const frames = [headersFrame(streamId, 'Prepare')];
    for (let at = 0; at < bytes.length; at += 16384) {
      const last = at + 16384 >= bytes.length;
      frames.push(encodeFrame(FrameType.DATA, last && end ? Flag.END_STREAM : 0, streamId, bytes.subarray(at, at + 16384)));
    }
    return Buffer.concat(frames);
  };
  const trailersOf = (streamId: number) => {
    const frame = reader.frames.filter((f) => f.streamId === streamId && f.type === FrameType.HEADERS).at(-1);
    return frame === undefined ? undefined : new Map(new HpackDecoder().decode(frame.payload, 65536));
  };
  client.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([])]));
  await reader.until(() => reader.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0), 'the ack of our SETTINGS');
  // Stream 1 holds 600 KiB and does not end; stream 3's 600 KiB would pass 1 MiB.
  client.write(Buffer.concat([body(1, false), body(3, true)]));
  await reader.until(() => trailersOf(3) !== undefined, 'the refusal of stream 3');
  t.is(trailersOf(3)!.get('grpc-status'), '8', 'RESOURCE_EXHAUSTED');
  t.regex(trailersOf(3)!.get('grpc-message') ?? '', /^unfinished request bodies would pass the server's limit of 1\.0 MiB with this one \(1\.0 MiB held, 0\.\d MiB of it this call's\): retry$/);
  t.is(trailersOf(1), undefined, 'stream 1 still waits for the rest of its body');
  // Reset, stream 1 lets its 600 KiB go: stream 5's whole body is taken, and its call goes on working.
  client.write(Buffer.concat([encodeRstStream(1, ErrorCode.CANCEL), body(5, true, 'h')]));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(reader.frames.some((f) => f.streamId === 5 && f.type === FrameType.HEADERS && new Map(new HpackDecoder().decode(f.payload, 65536)).has('grpc-status')), 'stream 5 is not refused');
  // A body is let go once its call has started: two more of 600 KiB in turn are served while stream 5's call still runs.
  client.write(body(7, true));
  await reader.until(() => trailersOf(7) !== undefined, 'the reply to stream 7');
  client.write(body(9, true));
  await reader.until(() => trailersOf(9) !== undefined, 'the reply to stream 9');
  t.deepEqual([trailersOf(7)!.get('grpc-status'), trailersOf(9)!.get('grpc-status')], ['0', '0']);
});
