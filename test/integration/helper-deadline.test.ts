/**
 * A tsov-helper that does not answer: every caller gives up after the
 * policy's helper.call_timeout_seconds with an error that names the helper
 * and what to do, instead of waiting for as long as the helper hangs.
 *
 * Two helpers that never answer: a socket that accepts connections and never
 * reads them (a stopped or deadlocked process: the kernel still accepts into
 * the listen backlog), and grpc-js's own server whose Mount handler never
 * replies. grpc-js is the judge of the wire: it parses the grpc-timeout
 * header tsov's client sends into the call's deadline
 * (src/server-interceptors.ts, handleTimeoutHeader: /(\d{1,8})\s*([HMSmun])/)
 * and reports the call cancelled when the client resets its stream; node's
 * HTTP/2 server shows the reset itself (its stream's rstCode).
 *
 * One at a time: two of them stop this worker's event loop on purpose (a
 * spawnSync of tsov-runtime, a 1.5-s Atomics.wait), and beside them the
 * others' timers would fire seconds late.
 */
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type ServiceClientConstructor } from '@grpc/grpc-js';
import { DeadlineExceededError } from '../../common/errors';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { HelperClient } from '../../helper/api/helper-client';
import { helperServiceCodecs, mountRequestToWire } from '../../helper/api/wire';
import { framedMessage } from '../../common/grpc-wire';
import { mountsUnder } from '../../harness/mounts';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { overlaySpecFixture } from '../support/overlay-spec-fixture';
import { serviceClientConstructor } from '../support/proto-clients';
import { makeTempDir } from '../support/temp-dir';

/** A unix socket that accepts connections and never reads or writes them. */
async function silentSocket(t: Parameters<typeof makeTempDir>[0]): Promise<string> {
  const socket = path.join(makeTempDir(t, 'silent-helper'), 'helper.sock');
  const held: net.Socket[] = [];
  const server = net.createServer((connection) => {
    connection.pause();
    held.push(connection);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => {
    for (const connection of held) connection.destroy();
    server.close();
  });
  return socket;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now();
  try {
    await fn();
    return { ms: Date.now() - started, error: undefined };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

test.serial('a helper that accepts the connection and never answers: the call fails after its time limit, naming the helper and the fix', async (t) => {
  const socket = await silentSocket(t);
  const client = new HelperClient(socket, { timeoutSeconds: 1 });
  t.teardown(() => client.close());
  const { ms, error } = await timed(() => client.probe('/var/lib/tsov'));
  t.true(error instanceof DeadlineExceededError, String(error));
  t.true(ms >= 1000 && ms < 5000, `failed after ${ms} ms`);
  const message = (error as Error).message;
  t.true(message.startsWith(`tsov-helper at ${socket} did not answer Probe within 1 s (it accepted the connection but has sent nothing on it: the process is stopped or hung)`), message);
  t.regex(message, /systemctl status tsov-helper/);
  t.regex(message, /helper\.call_timeout_seconds/);
});

test.serial('a helper whose Mount never returns: grpc-js sees the deadline tsov sent, and the call cancelled when it passes', async (t) => {
  const dir = makeTempDir(t, 'hung-helper');
  const socket = path.join(dir, 'helper.sock');
  const seen: { deadline?: number; cancelledAfterMs?: number } = {};
  let received = 0;
  const server = new Server();
  const Helper = serviceClientConstructor('tsov/helper/v1/helper.proto', 'tsov.helper.v1.Helper') as ServiceClientConstructor;
  server.addService(Helper.service, {
    Mount: (call: ServerUnaryCall<unknown, unknown>, _callback: sendUnaryData<unknown>) => {
      received = Date.now();
      const deadline = call.getDeadline();
      seen.deadline = deadline instanceof Date ? deadline.getTime() : deadline;
      call.on('cancelled', () => (seen.cancelledAfterMs = Date.now() - received));
      // Never answers.
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
  t.teardown(() => server.forceShutdown());

  const client = new HelperClient(socket, { timeoutSeconds: 1 });
  t.teardown(() => client.close());
  const sent = Date.now();
  const { ms, error } = await timed(() =>
    client.mount({ owner: 'c1', lowers: [path.join(dir, 'l')], upper: path.join(dir, 'u'), work: path.join(dir, 'w'), target: path.join(dir, 'm'), backend: 'kernel', choices: {} }),
  );
  t.true(error instanceof DeadlineExceededError, String(error));
  t.true(ms >= 1000 && ms < 5000, `failed after ${ms} ms`);
  const message = (error as Error).message;
  t.regex(message, /did not answer Mount within 1 s \(it is connected but did not finish this call\); the mount may still be made: the container's Release/);

  t.true(received > 0, 'the server got the call');
  // grpc-js's deadline is its clock when it parsed the header plus the timeout: the header said 1 s.
  const headerMs = seen.deadline! - received;
  t.true(headerMs > 900 && headerMs <= 1000, `grpc-js read a deadline ${headerMs} ms after the call arrived`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.not(seen.cancelledAfterMs, undefined, 'grpc-js saw the call cancelled (RST_STREAM CANCEL from tsov, or its own deadline)');
  t.true(Date.now() - sent < 5000);
});

test.serial('when the time limit passes, the call\'s stream is reset with CANCEL (as node\'s HTTP/2 server sees it)', async (t) => {
  const socket = path.join(makeTempDir(t, 'h2-helper'), 'helper.sock');
  const seen: { timeout?: string; rstCode?: number } = {};
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    seen.timeout = String(headers['grpc-timeout']);
    stream.on('close', () => (seen.rstCode = stream.rstCode));
    stream.resume(); // reads the request, never answers
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  const client = new HelperClient(socket, { timeoutSeconds: 1 });
  t.teardown(() => client.close());
  const { error } = await timed(() => client.list());
  t.true(error instanceof DeadlineExceededError, String(error));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(seen.timeout, '1000m', 'grpc-timeout: 1 s in milliseconds');
  t.is(seen.rstCode, http2.constants.NGHTTP2_CANCEL);
});

/** A helper in another process that answers List (no mounts) 100 ms after each request, and tells its parent when one arrives. */
const SLOW_HELPER = `
const http2 = require('node:http2');
http2.createServer().on('stream', (stream) => {
  process.send('request');
  stream.resume();
  setTimeout(() => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5));
  }, 100);
}).listen(process.argv[2], () => process.send('listening'));
`;

test.serial('a reply already waiting when the time limit passes is taken: a caller whose own loop was busy does not lose it', async (t) => {
  const dir = makeTempDir(t, 'slow-helper');
  const socket = path.join(dir, 'helper.sock');
  const script = path.join(dir, 'slow-helper.js');
  fs.writeFileSync(script, SLOW_HELPER);
  const child = fork(script, [socket], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => child.kill());
  await once(child, 'message');
  const client = new HelperClient(socket, { timeoutSeconds: 1 });
  t.teardown(() => client.close());
  const call = client.list();
  await once(child, 'message'); // the request is at the helper
  // This process's loop stops for 1.5 s (as a spawnSync would stop it): the reply comes in
  // after 0.1 s and waits in the socket while the time limit passes.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
  t.deepEqual(await call, []);
});

test.serial('tsov-runtime create with a helper that never answers: exits 1 after helper.call_timeout_seconds with one line naming it, config.json untouched', async (t) => {
  const { base, policy, spec } = await overlaySpecFixture(t);
  const socket = await silentSocket(t);
  fs.writeFileSync(policy, fs.readFileSync(policy, 'utf8').replace(/ {2}socket: .*/, `  socket: ${socket}\n  call_timeout_seconds: 1`));
  const bundle = makeDirs(path.join(base, 'bundle'))[0]!;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const started = Date.now();
  const create = spawnSync(RUNTIME_MAIN, ['--root', path.join(base, 'runc-root'), 'create', '--bundle', bundle, 'hung1'], {
    encoding: 'utf8',
    env: { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') },
    timeout: 30_000,
  });
  const ms = Date.now() - started;
  t.is(create.signal, null, 'it ended by itself');
  t.is(create.status, 1);
  t.true(ms >= 1000 && ms < 15_000, `took ${ms} ms`);
  // The first call, the upper's Probe, times out; the create gives up there rather than wait as long again for the Mount.
  t.regex(create.stderr, new RegExp(`^tsov-runtime: tsov-helper at ${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} did not answer Probe within 1 s \\(it accepted the connection but has sent nothing on it: the process is stopped or hung\\); check`));
  t.is(create.stderr.trim().split('\n').length, 1, 'one line');
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')), spec, 'config.json is the original');
});

/** A Mount sent by node's HTTP/2 client with the grpc-timeout given (or none): its grpc-status and grpc-message. */
async function rawMount(socket: string, request: Parameters<typeof mountRequestToWire>[0], timeout: string | undefined): Promise<{ status: string; message: string }> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/tsov.helper.v1.Helper/Mount',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(timeout === undefined ? {} : { 'grpc-timeout': timeout }),
    });
    stream.end(framedMessage(helperServiceCodecs().Mount!.requestSerialize(mountRequestToWire(request))));
    const fields: Record<string, string> = {};
    stream.on('response', (headers) => Object.assign(fields, headers));
    stream.on('trailers', (trailers) => Object.assign(fields, trailers));
    stream.resume();
    await once(stream, 'close');
    return { status: String(fields['grpc-status']), message: decodeURIComponent(String(fields['grpc-message'] ?? '')) };
  } finally {
    session.close();
  }
}

test.serial('tsov-helper does not start a Mount whose caller\'s grpc-timeout has passed by its turn; with time left it mounts; a malformed grpc-timeout is refused as grpc-go refuses it', async (t) => {
  const layout = helperLayout(makeTempDir(t, 'deadline-helper'));
  const helper = await startHelper(t, layout);
  const [l1, l2, target] = makeDirs(...['l1', 'l2', 'target'].map((d) => path.join(helper.root, d)));
  const request = { owner: 'late', lowers: [l1!, l2!], target: target!, backend: 'kernel' as const, choices: {} };

  // 1 ns: gone before the helper's turn comes, however idle it is.
  const late = await rawMount(layout.socket, request, '1n');
  t.is(late.status, '4', 'DEADLINE_EXCEEDED');
  t.is(late.message, "the caller's time limit passed while this call waited for the helper's earlier calls; nothing was done");
  t.deepEqual(await helper.client.list(), [], 'nothing recorded');
  t.deepEqual(mountsUnder(helper.root), [], 'nothing mounted');

  const malformed = await rawMount(layout.socket, request, '5x');
  t.is(malformed.status, '13', 'INTERNAL');
  t.regex(malformed.message, /^malformed grpc-timeout "5x"/);
  t.deepEqual(mountsUnder(helper.root), []);

  const inTime = await rawMount(layout.socket, request, '30S');
  t.is(inTime.status, '0', inTime.message);
  t.is(mountsUnder(helper.root).length, 1, 'mounted');
  const mounted = await helper.client.list('late');
  t.is(mounted.length, 1);
  t.deepEqual(await helper.client.release('late'), [mounted[0]!.id]);
  t.deepEqual(mountsUnder(helper.root), []);
});
