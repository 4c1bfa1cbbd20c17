/**
 * tsov's own unary gRPC client (common/grpc-unix-client.ts) against a server
 * it did not write: grpc-go, in containerd's snapshots proxy service over
 * containerd's overlayfs snapshotter (bench/go/reference-proxy, the server the
 * benchmarks compare with). Replies and requests larger than the HTTP/2
 * windows (the client must acknowledge what it reads, and wait for grpc-go's
 * WINDOW_UPDATEs to send), grpc-go's error statuses and their messages, calls
 * in parallel on one connection, a server that goes away and comes back, and
 * failures below gRPC: no socket, a peer that hangs up mid-call.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startServer } from '../../bench/servers';
import { GrpcStatus } from '../../common/grpc-status';
import { GrpcCallError, UnixGrpcClient } from '../../common/grpc-unix-client';
import { snapshotsServiceCodecs } from '../../snapshotter/grpc-server';
import { makeTempDir } from '../support/temp-dir';

const MAX_REPLY = 16 * 1024 * 1024;

async function goServer(t: ExecutionContext, dir: string) {
  const server = await startServer('reference', dir);
  t.teardown(() => server.stop());
  return server;
}

function client(t: ExecutionContext, socket: string): UnixGrpcClient {
  const c = new UnixGrpcClient(socket, snapshotsServiceCodecs(), { maxReceiveBytes: MAX_REPLY });
  t.teardown(() => c.close());
  return c;
}

/** n labels of size bytes each (containerd allows 4,096 per label; the total is not limited). */
function bigLabels(n: number, size: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`containerd.io/test.${i}`, String(i % 10).repeat(size)]));
}

test('grpc-go: a 1.2 MB request and its 1.2 MB reply cross the HTTP/2 windows both ways', async (t) => {
  const dir = makeTempDir(t, 'grpc-client-go');
  const server = await goServer(t, dir);
  const c = client(t, server.socket);
  const labels = bigLabels(300, 4000);
  await c.unary('Prepare', { snapshotter: 'overlayfs', key: 'big', parent: '', labels });
  // grpc-go's first windows are 64 KiB: the request waited for its WINDOW_UPDATEs; the Stat reply
  // (the same labels) is over the client's 1 MiB stream window, which it had to reopen as it read.
  const reply = (await c.unary('Stat', { snapshotter: 'overlayfs', key: 'big' })) as { info: { name: string; labels: Record<string, string> } };
  t.is(reply.info.name, 'big');
  t.deepEqual(reply.info.labels, labels);
});

test("grpc-go: an error status comes back with its code and grpc-go's message", async (t) => {
  const dir = makeTempDir(t, 'grpc-client-go-err');
  const server = await goServer(t, dir);
  const c = client(t, server.socket);
  await c.unary('Prepare', { snapshotter: 'overlayfs', key: 'a', parent: '', labels: {} });
  const missing = await t.throwsAsync(c.unary('Prepare', { snapshotter: 'overlayfs', key: 'b', parent: 'nothing here\nor here ✓', labels: {} }), { instanceOf: GrpcCallError });
  t.is(missing.code, GrpcStatus.NOT_FOUND);
  t.true(missing.reachedServer);
  // containerd quotes the name with Go's %q (the newline becomes \n, the ✓ stays); grpc-go
  // percent-encodes the ✓'s three UTF-8 bytes in grpc-message; the client decodes them back.
  t.is(missing.message, 'failed to create snapshot: missing parent "nothing here\\nor here ✓" bucket: not found');
  const twice = await t.throwsAsync(c.unary('Prepare', { snapshotter: 'overlayfs', key: 'a', parent: '', labels: {} }), { instanceOf: GrpcCallError });
  t.is(twice.code, GrpcStatus.ALREADY_EXISTS);
});

test('grpc-go: 50 calls in parallel on one connection each get their own reply', async (t) => {
  const dir = makeTempDir(t, 'grpc-client-go-par');
  const server = await goServer(t, dir);
  const c = client(t, server.socket);
  const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
  await Promise.all(keys.map((key) => c.unary('Prepare', { snapshotter: 'overlayfs', key, parent: '', labels: { key } })));
  const infos = await Promise.all(keys.map((key) => c.unary('Stat', { snapshotter: 'overlayfs', key })));
  const info = (reply: Record<string, unknown>) => (reply as { info: { name: string; labels: Record<string, string> } }).info;
  t.deepEqual(
    infos.map((reply) => [info(reply).name, info(reply).labels.key]),
    keys.map((key) => [key, key]),
  );
});

test('a server that stops and starts again: the call in between fails UNAVAILABLE, the next one reconnects', async (t) => {
  const dir = makeTempDir(t, 'grpc-client-go-restart');
  const first = await startServer('reference', path.join(dir, 'one'));
  t.teardown(() => first.stop());
  const c = client(t, first.socket);
  await c.unary('Prepare', { snapshotter: 'overlayfs', key: 'before', parent: '', labels: {} });
  await first.stop();
  const down = await t.throwsAsync(c.unary('Stat', { snapshotter: 'overlayfs', key: 'before' }), { instanceOf: GrpcCallError });
  t.is(down.code, GrpcStatus.UNAVAILABLE);
  t.false(down.reachedServer);
  // A new server on the same socket path (its own root): the client's next call finds it.
  fs.rmSync(first.socket, { force: true });
  const second = await startServer('reference', path.join(dir, 'two'));
  t.teardown(() => second.stop());
  fs.symlinkSync(second.socket, first.socket);
  const missing = await t.throwsAsync(c.unary('Stat', { snapshotter: 'overlayfs', key: 'before' }), { instanceOf: GrpcCallError });
  t.is(missing.code, GrpcStatus.NOT_FOUND, 'the new server answered');
});

test('no socket: UNAVAILABLE, not reached, naming the connect error', async (t) => {
  const dir = makeTempDir(t, 'grpc-client-none');
  const c = client(t, path.join(dir, 'nowhere.sock'));
  const error = await t.throwsAsync(c.unary('Stat', { snapshotter: 'overlayfs', key: 'a' }), { instanceOf: GrpcCallError });
  t.is(error.code, GrpcStatus.UNAVAILABLE);
  t.false(error.reachedServer);
  t.regex(error.message, /^connect ENOENT .*nowhere\.sock$/);
});

test('a peer that reads the call and hangs up: the call fails UNAVAILABLE instead of waiting', async (t) => {
  const dir = makeTempDir(t, 'grpc-client-hangup');
  const socket = path.join(dir, 'hangup.sock');
  const server = net.createServer((connection) => connection.once('data', () => connection.destroy()));
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  const c = client(t, socket);
  const error = await t.throwsAsync(c.unary('Stat', { snapshotter: 'overlayfs', key: 'a' }), { instanceOf: GrpcCallError });
  t.is(error.code, GrpcStatus.UNAVAILABLE);
});
