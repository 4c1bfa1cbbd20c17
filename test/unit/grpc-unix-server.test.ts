/**
 * UnixGrpcServer's order of work within one turn of the event loop: a reply
 * its handler computes at once (a read answered from memory) is written out
 * before the next call of the same chunk runs its synchronous work (a write's
 * metadata transaction), not at the end of the turn behind it.
 */
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import winston from 'winston';
import { UnixGrpcServer, unary } from '../../common/grpc-unix-server';
import { CLIENT_PREFACE, Flag, FrameType, encodeFrame, encodeSettings } from '../../common/http2/frames';
import { encodeHeaderBlock, type HeaderField } from '../../common/http2/hpack';
import { framedMessage } from '../../common/grpc-wire';
import { snapshotsServiceCodecs } from '../../snapshotter/grpc-server';
import { readFrames } from '../support/h2-frames';
import { makeTempDir } from '../support/temp-dir';

const SERVICE = '/containerd.services.snapshots.v1.Snapshots';

function request(streamId: number, method: string, body: Buffer): Buffer {
  const headers: HeaderField[] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', `${SERVICE}/${method}`],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ];
  return Buffer.concat([
    encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, encodeHeaderBlock(headers)),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, streamId, framedMessage(body)),
  ]);
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
