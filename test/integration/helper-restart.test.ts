/**
 * tsov-helper restarted (systemctl restart: the old process exits, the new
 * one listens a moment later) while containers are created. tsov-runtime
 * waits for the helper instead of failing the create (its client's
 * waitForReady, up to helper.call_timeout_seconds), and a helper restarted
 * between a create's Mount and the real runtime's create keeps that mount:
 * tsov-runtime's own process is its owner's sign of life until the runtime's
 * state directory exists (helper/journal/reconcile.ts, ownerAlive).
 *
 * The client side of waitForReady against servers that are not tsov's: a
 * call is sent again only when it certainly reached no server — no socket,
 * or above the last stream of node's HTTP/2 server's GOAWAY (RFC 9113 6.8) —
 * and never when the server may have seen it.
 *
 * The real runtime here is a script that stops at `create` until the test
 * lets it go, then fails (so tsov-runtime undoes its mounts): the helper, its
 * journal and the kernel's mounts are real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DeadlineExceededError, InvalidArgumentError, UnavailableError } from '../../common/errors';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { mountsUnder } from '../../harness/mounts';
import { waitFor } from '../../harness/wait';
import { HelperClient } from '../../helper/api/helper-client';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { overlaySpecFixture } from '../support/overlay-spec-fixture';
import { makeTempDir } from '../support/temp-dir';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A real runtime that, at create, says it started and waits for $GO, then fails; anything else is runc. */
const STALLING_RUNTIME = '#!/bin/sh\ncase " $* " in\n  *" create "*) touch "$STARTED"; while [ ! -e "$GO" ]; do sleep 0.05; done; echo "stalled runtime: told to fail" >&2; exit 1 ;;\n  *) exec runc "$@" ;;\nesac\n';

interface StalledCreate {
  child: ChildProcess;
  /** The real runtime has been started: the helper has mounted. */
  started: string;
  /** Lets the real runtime fail. */
  go(): void;
  /** tsov-runtime's exit code and stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
}

async function stalledCreateFixture(t: ExecutionContext) {
  const fixture = await overlaySpecFixture(t);
  const runtime = path.join(fixture.base, 'stalling-runtime');
  fs.writeFileSync(runtime, STALLING_RUNTIME, { mode: 0o755 });
  fs.appendFileSync(fixture.policy, `runtime:\n  binary: ${runtime}\n`);
  const startCreate = (id: string): StalledCreate => {
    const bundle = makeDirs(path.join(fixture.base, `bundle-${id}`))[0]!;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(fixture.spec));
    const started = path.join(fixture.base, `${id}.started`);
    const goFile = path.join(fixture.base, `${id}.go`);
    const env = { ...process.env, TSOV_CONFIG: fixture.policy, TSOV_RUNTIME_CACHE: path.join(fixture.base, 'cache'), STARTED: started, GO: goFile };
    const child = spawn(RUNTIME_MAIN, ['--root', path.join(fixture.base, 'runc-root'), 'create', '--bundle', bundle, id], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
    t.teardown(() => {
      fs.writeFileSync(goFile, '');
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    });
    return { child, started, go: () => fs.writeFileSync(goFile, ''), exited };
  };
  return { ...fixture, startCreate };
}

test.serial('tsov-runtime create while tsov-helper is down: it waits, and mounts once the helper is back', async (t) => {
  const { layout, root, helper, startCreate, spec, base } = await stalledCreateFixture(t);
  t.is(await helper.stop('SIGTERM'), 0);
  t.false(fs.existsSync(layout.socket), 'the stopped helper removed its socket');

  const create = startCreate('waits-1');
  await sleep(1500);
  t.is(create.child.exitCode, null, 'tsov-runtime is still waiting for the helper, not failed');
  t.false(fs.existsSync(create.started), 'nothing was mounted without the helper');

  const restarted = await startHelper(t, layout);
  await waitFor('the real runtime to be started (the helper mounted)', () => fs.existsSync(create.started));
  const mounts = await restarted.client.list('waits-1');
  t.is(mounts.length, 1);
  t.is(mounts[0]!.state, 'mounted');
  t.is(mountsUnder(root).length, 1);

  create.go();
  const { code, stderr } = await create.exited;
  t.is(code, 1, stderr);
  t.regex(stderr, /stalled runtime: told to fail/);
  t.deepEqual(await restarted.client.list(), [], 'the failed create undid its mount');
  t.deepEqual(mountsUnder(root), []);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(base, 'bundle-waits-1', 'config.json'), 'utf8')), spec, 'config.json is the original again');
});

test.serial('tsov-helper restarted between a create\'s Mount and the real runtime\'s create keeps the mount (tsov-runtime still runs)', async (t) => {
  const { layout, root, helper, startCreate } = await stalledCreateFixture(t);
  const create = startCreate('restart-1');
  await waitFor('the real runtime to be started (the helper mounted)', () => fs.existsSync(create.started));
  t.is((await helper.client.list('restart-1')).length, 1);

  t.is(await helper.stop('SIGTERM'), 0);
  const restarted = await startHelper(t, layout, 'info');
  // The runtime's state directory does not exist yet; tsov-runtime's process does.
  t.false(fs.existsSync(path.join(path.dirname(layout.socket), '..', 'runc-root', 'restart-1')));
  const mounts = await restarted.client.list('restart-1');
  t.is(mounts.length, 1, 'the new helper adopted the mount instead of releasing it');
  t.is(mounts[0]!.state, 'mounted');
  t.is(mountsUnder(root).length, 1);
  t.regex(restarted.stderr(), /adopted a mount from the journal/);

  create.go();
  const { code, stderr } = await create.exited;
  t.is(code, 1, stderr);
  t.deepEqual(await restarted.client.list(), [], 'the failed create undid its mount through the new helper');
  t.deepEqual(mountsUnder(root), []);
});

test.serial('tsov-runtime killed during a create and the helper restarted after: the mount is released (the owner\'s process is gone)', async (t) => {
  const { layout, root, helper, startCreate } = await stalledCreateFixture(t);
  const create = startCreate('killed-1');
  await waitFor('the real runtime to be started (the helper mounted)', () => fs.existsSync(create.started));
  process.kill(-create.child.pid!, 'SIGKILL');
  await create.exited;
  t.is(mountsUnder(root).length, 1);
  await helper.stop('SIGTERM');
  const restarted = await startHelper(t, layout, 'info');
  t.deepEqual(await restarted.client.list(), [], 'neither the state directory nor tsov-runtime exists: released at start');
  t.deepEqual(mountsUnder(root), []);
});

test.serial('waitForReady: no helper for the whole time limit fails with DeadlineExceeded naming the socket; without it the call fails at once', async (t) => {
  const socket = path.join(makeTempDir(t, 'no-helper'), 'helper.sock');
  const waiting = new HelperClient(socket, { timeoutSeconds: 1, waitForReady: true });
  t.teardown(() => waiting.close());
  let started = Date.now();
  const waited = await t.throwsAsync(waiting.list(), { instanceOf: DeadlineExceededError });
  const waitedMs = Date.now() - started;
  t.true(waitedMs >= 1000 && waitedMs < 5000, `gave up after ${waitedMs} ms`);
  t.is(waited?.message, `cannot reach tsov-helper at ${socket} (connect ENOENT ${socket}; still so after waiting 1 s for the server); start it (systemctl start tsov-helper), or make the policy's helper.socket name its socket`);

  const impatient = new HelperClient(socket, { timeoutSeconds: 1 });
  t.teardown(() => impatient.close());
  started = Date.now();
  const failed = await t.throwsAsync(impatient.list(), { instanceOf: UnavailableError });
  t.true(Date.now() - started < 500);
  t.regex(failed?.message ?? '', /^cannot reach tsov-helper at .* \(connect ENOENT /);
});

/** A gRPC reply with an empty message (List: no mounts) from node's HTTP/2 server. */
function answerEmpty(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.alloc(5));
}

async function listen(t: ExecutionContext, server: http2.Http2Server, name: string): Promise<string> {
  const socket = path.join(makeTempDir(t, name), 'helper.sock');
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  return socket;
}

test.serial('waitForReady: a call above the last stream of a GOAWAY is sent again on a new connection (node\'s HTTP/2 server)', async (t) => {
  const server = http2.createServer();
  let sessions = 0;
  let streams = 0;
  let timeout = '';
  server.on('session', (session) => {
    // The first connection goes away before it has processed any stream (last stream id 0).
    if (++sessions === 1) session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
  });
  server.on('stream', (stream, headers) => {
    streams++;
    timeout = String(headers['grpc-timeout']);
    answerEmpty(stream);
  });
  const socket = await listen(t, server, 'goaway-helper');
  const client = new HelperClient(socket, { timeoutSeconds: 5, waitForReady: true });
  t.teardown(() => client.close());
  t.deepEqual(await client.list(), []);
  t.is(sessions, 2, 'a second connection');
  t.is(streams, 1, 'the server processed the call once');
  // The call's limit spans its attempts: the one sent again carries what was left of 5 s.
  const [, value, unit] = /^(\d+)([mu])$/.exec(timeout) ?? [];
  const leftMs = Number(value) / (unit === 'u' ? 1000 : 1);
  t.true(leftMs > 4000 && leftMs < 4990, `grpc-timeout ${timeout}`);
});

test.serial('waitForReady: a call the server may have seen is not sent again (the connection lost under it)', async (t) => {
  const server = http2.createServer();
  let streams = 0;
  server.on('stream', (stream) => {
    streams++;
    stream.session?.destroy();
  });
  const socket = await listen(t, server, 'dying-helper');
  const client = new HelperClient(socket, { timeoutSeconds: 5, waitForReady: true });
  t.teardown(() => client.close());
  const started = Date.now();
  const error = await t.throwsAsync(client.mount({ owner: 'c1', lowers: ['/l1', '/l2'], target: '/m', backend: 'kernel', choices: {} }), { instanceOf: UnavailableError });
  t.true(Date.now() - started < 2000, 'failed at once, not after waiting');
  t.notRegex(error?.message ?? '', /cannot reach/, 'the message says the connection was lost, not that the helper was unreachable');
  await sleep(500);
  t.is(streams, 1, 'sent once');
});

test.serial('a Mount whose owner pid does not run in the helper\'s PID namespace is refused, naming what must be shared', async (t) => {
  const base = makeTempDir(t, 'pid-helper');
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);
  const [l1, l2, target] = makeDirs(...['l1', 'l2', 'target'].map((d) => path.join(helper.root, d)));
  // Above Linux's largest pid_max (2^22): no process has it.
  const error = await t.throwsAsync(helper.client.mount({ owner: 'c1', lowers: [l1!, l2!], target: target!, backend: 'kernel', choices: {}, ownerPid: 4_194_305 }), { instanceOf: InvalidArgumentError });
  t.regex(error?.message ?? '', /ownerPid 4194305 is not a running process in tsov-helper's PID namespace: .* must share one/);
  t.deepEqual(mountsUnder(helper.root), []);
  t.deepEqual(await helper.client.list(), []);
});
