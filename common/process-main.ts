/**
 * The frame every tsov executable runs in: a stop signal promise installed
 * before anything else (an early SIGTERM still shuts down cleanly), and one
 * place that turns a thrown error into a one-line message and an exit status.
 */
import fs from 'node:fs';
import { StartupError, TsovError, UsageError } from './errors';
import { GrpcStatus } from './grpc-status';
import type { UnixGrpcServer } from './grpc-unix-server';
import type { Logger } from './logger';
import type { PassedSocket } from './socket-activation';
import type { VerifiedSocket } from './socket-self-check';

/** Resolves with the first SIGTERM/SIGINT. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** The --config FILE argument, read before full argument parsing (the SIGHUP handler needs it first). */
export function configFileArgument(argv: readonly string[] = process.argv.slice(2)): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i]!.startsWith('--config=')) return argv[i]!.slice('--config='.length);
  }
  return undefined;
}

/** Writes everything the logger still holds before the process exits. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    logger.on('finish', resolve);
    logger.end();
  });
}

/** How long a daemon that failed gives the calls it answers with the reason to go out before it exits. */
const REFUSAL_GRACE_MS = 1000;

/** The server of a daemon that listens already (listenThenReadPolicy), with its name: told why, should main fail. */
let listening: { server: UnixGrpcServer; name: string } | undefined;

/**
 * From now on, should main throw, the calls server holds (and any that come
 * before the process exits) are answered UNAVAILABLE with the reason — a
 * client such as containerd then shows why — instead of seeing their
 * connection closed.
 */
export function answerCallsOnFailure(server: UnixGrpcServer, name: string): void {
  listening = { server, name };
}

/**
 * Runs main and exits: with main's number if it returns one, else 0; with 1 and
 * "name: message" on stderr when it throws (a stack only for unexpected errors),
 * the calls a listening daemon holds answered with the message first
 * (answerCallsOnFailure); with 2 and "name: problem; usage: ..." on one line for
 * a UsageError.
 */
export function runMain(name: string, main: () => Promise<number | void>): void {
  main().then(
    (status) => process.exit(typeof status === 'number' ? status : 0),
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`${name}: ${error.message.replace(/\n/g, '; ')}; ${error.usage}\n`);
        process.exit(2);
      }
      const known = error instanceof StartupError || error instanceof TsovError;
      const text = error instanceof Error ? (known ? error.message : (error.stack ?? error.message)) : String(error);
      process.stderr.write(`${name}: ${text}\n`);
      void answerWithFailure(error instanceof Error ? error.message : String(error)).finally(() => process.exit(1));
    },
  );
}

/** The calls of a listening daemon answered with why it stops (at most REFUSAL_GRACE_MS). */
async function answerWithFailure(reason: string): Promise<void> {
  if (listening === undefined) return;
  const { server, name } = listening;
  const what = server.phase === 'starting' ? 'could not start' : 'stopped on an error';
  server.refuseCalls(GrpcStatus.UNAVAILABLE, `${name} ${what}: ${reason}; fix the cause and start it again (its log has the details)`);
  await server.shutdown(REFUSAL_GRACE_MS);
}

export interface ServeOptions {
  server: UnixGrpcServer;
  socket: string;
  socketMode: number;
  logger: Logger;
  stopRequested: Promise<NodeJS.Signals>;
  /** Extra fields for the "serving" log line. */
  describe: Record<string, unknown>;
  /** Logged when the stop signal arrives. */
  stoppingMessage: string;
  /**
   * The listening socket systemd passed (socket activation), checked to be the
   * one at socket (verifyPassedSocket), served instead of binding socket;
   * systemd keeps its file. The server listens on it already, with its calls
   * held (listenEarly); they run from here on.
   */
  passed?: VerifiedSocket;
  /** Closes what the daemon opened (after in-flight calls finish). */
  close: () => void | Promise<void>;
  graceMs: number;
}

/**
 * Listens on the socket systemd passed at once, before the daemon's service is
 * ready, with calls held until serveUntilStopped: connections made while the
 * daemon starts get their HTTP/2 handshake answered and their calls wait,
 * instead of timing out in the backlog. Without a passed socket the daemon
 * listens only once it can serve (its socket file then appears ready).
 */
export async function listenEarly(server: UnixGrpcServer, passed: PassedSocket | undefined): Promise<void> {
  if (passed === undefined) return;
  server.holdCalls();
  await server.listen({ fd: passed.fd });
}

/**
 * Listens (on socket: a passed one listenEarly listened on), then waits for SIGTERM/SIGINT; on it, lets in-flight calls finish,
 * closes the daemon's resources, removes the socket (unless systemd passed
 * it: it stays, and its backlog holds the connections made until the next
 * start) and flushes the log.
 */
export async function serveUntilStopped(options: ServeOptions): Promise<void> {
  const { server, socket, logger, passed } = options;
  if (passed === undefined) {
    await server.listen(socket);
    fs.chmodSync(socket, options.socketMode);
  }
  server.openCalls();
  const activation = passed === undefined ? {} : { socket_from: 'systemd', socket_checked_by: passed.checkedBy };
  logger.info('serving', { component: 'main', socket, ...activation, ...options.describe });
  const signal = await options.stopRequested;
  logger.info(options.stoppingMessage, { component: 'main', signal });
  await server.shutdown(options.graceMs);
  await options.close();
  if (passed === undefined) fs.rmSync(socket, { force: true });
  logger.info('stopped', { component: 'main' });
  await flushLogger(logger);
}
