/**
 * reachesThisServer (common/socket-self-check.ts): a path leads to this
 * server only when its health Check answers the private name this server
 * made up; another server, nothing at the path, or a private name already
 * forgotten do not count.
 */
import path from 'node:path';
import test from 'ava';
import winston from 'winston';
import { UnixGrpcServer } from '../../common/grpc-unix-server';
import { SNAPSHOTS_SERVICE } from '../../common/served-services';
import { reachesThisServer } from '../../common/socket-self-check';
import { makeTempDir } from '../support/temp-dir';

async function listening(t: import('ava').ExecutionContext, socket: string): Promise<UnixGrpcServer> {
  const server = new UnixGrpcServer({ logger: winston.createLogger({ silent: true }) });
  server.serveHealth([SNAPSHOTS_SERVICE]);
  server.holdCalls();
  await server.listen(socket);
  t.teardown(() => server.shutdown(0));
  return server;
}

test('reachesThisServer: its own socket yes (while its calls are held); another server\'s and a missing path no, with the reason', async (t) => {
  const dir = makeTempDir(t, 'self-check');
  const mine = await listening(t, path.join(dir, 'mine.sock'));
  await listening(t, path.join(dir, 'other.sock'));

  t.deepEqual(await reachesThisServer(mine, path.join(dir, 'mine.sock')), { ok: true });
  const other = await reachesThisServer(mine, path.join(dir, 'other.sock'));
  t.false(other.ok);
  t.regex(other.ok ? '' : other.reason, /^a server there answered, not this one \(unknown service "tsov\.self-check\.[0-9a-f]{32}"/);
  const missing = await reachesThisServer(mine, path.join(dir, 'missing.sock'));
  t.false(missing.ok);
  t.regex(missing.ok ? '' : missing.reason, /^nothing there reached this process \(connect ENOENT .*missing\.sock\)$/);
  t.is(mine.phase, 'starting', 'the check answered while calls were held, and opened none');
});
