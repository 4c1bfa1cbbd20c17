/**
 * systemd socket activation (sd_listen_fds(3)): a daemon started by a
 * .socket unit finds its listening socket already open as fd 3, with
 * LISTEN_PID naming its own pid and LISTEN_FDS the count. The socket outlives
 * the daemon, so a restart (systemctl restart, an upgrade, a crash) queues
 * the connections made meanwhile in the socket's backlog instead of refusing
 * them: containerd's calls to tsov-snapshotter and tsov-runtime's to
 * tsov-helper wait for the new process rather than fail.
 *
 * tsov takes exactly one socket, and only a listening unix stream socket
 * bound to the path its configuration names — checked by the socket's inode
 * in /proc/self/net/unix (net/unix/af_unix.c, unix_seq_show: flags
 * __SO_ACCEPTCON 0x10000 while listening, type 1 for SOCK_STREAM). A
 * daemon in a network namespace of its own (PrivateNetwork=yes) does not see
 * systemd's sockets there: it refuses anything but a unix socket (node
 * reports a TCP listener's address, never a unix one's), and checks the path
 * by reaching itself through it (socket-self-check.ts).
 */
import fs from 'node:fs';
import { StartupError } from './errors';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

const ACCEPTING = 0x10000;
const SOCK_STREAM = 1;

export type ListenEnvironment = { passed: false } | { passed: true; fd: number };

/**
 * What the environment says systemd passed to process pid: nothing (no
 * LISTEN_PID, or another process's — a variable inherited from a parent), or
 * one socket at fd 3. More than one, or a malformed count, is refused.
 */
export function listenEnvironment(env: Readonly<Record<string, string | undefined>>, pid: number): ListenEnvironment {
  const listenPid = env.LISTEN_PID;
  if (listenPid === undefined || listenPid !== String(pid)) return { passed: false };
  const count = env.LISTEN_FDS ?? '';
  if (!/^[1-9][0-9]*$/.test(count)) {
    throw new StartupError(`LISTEN_FDS=${JSON.stringify(count)} from systemd is not a positive count of sockets; check the .socket unit`);
  }
  if (count !== '1') {
    throw new StartupError(`systemd passed ${count} sockets (LISTEN_FDS=${count}); tsov serves one: its .socket unit must have exactly one ListenStream=`);
  }
  return { passed: true, fd: LISTEN_FDS_START };
}

export interface UnixSocketEntry {
  listening: boolean;
  stream: boolean;
  /** The bound path; "" for an unnamed socket. An abstract name starts with "@". */
  path: string;
}

/** The /proc/net/unix line of the socket with this inode, or undefined when it is not listed. */
export function unixSocketEntry(procNetUnix: string, inode: number): UnixSocketEntry | undefined {
  for (const line of procNetUnix.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode [Path]; a path may hold spaces.
    const match = /^\s*[0-9a-f]+: [0-9A-F]+ [0-9A-F]+ ([0-9A-F]+) ([0-9A-F]+) [0-9A-F]+ +(\d+)(?: (.*))?$/.exec(line);
    if (match === null || Number(match[3]) !== inode) continue;
    return { listening: (parseInt(match[1]!, 16) & ACCEPTING) !== 0, stream: parseInt(match[2]!, 16) === SOCK_STREAM, path: match[4] ?? '' };
  }
  return undefined;
}

/** Why a passed socket cannot serve socketPath, or undefined when it can (or cannot be told: not listed). */
export function passedSocketProblem(entry: UnixSocketEntry | undefined, socketPath: string): string | undefined {
  if (entry === undefined) return undefined;
  if (!entry.stream) return 'it is not a stream socket (ListenStream=)';
  if (!entry.listening) return 'it is not listening';
  if (entry.path !== socketPath) return `it is bound to ${entry.path === '' ? 'no path' : JSON.stringify(entry.path)}, not to ${JSON.stringify(socketPath)}, which clients are told to use`;
  return undefined;
}

export interface PassedSocket {
  fd: number;
  /** The socket's /proc/self/net/unix line, read when it was taken; undefined when not listed there. */
  entry: UnixSocketEntry | undefined;
}

/**
 * The socket systemd passed to this process, or undefined when it passed none.
 * LISTEN_* are removed from the environment, as sd_listen_fds(1) does, so that
 * no child takes them for its own. Taken before the daemon knows its
 * configured path (the policy is read after, while this socket is served);
 * checkPassedSocket judges it against that path.
 */
export function takePassedSocket(env: NodeJS.ProcessEnv = process.env, pid = process.pid): PassedSocket | undefined {
  const passed = listenEnvironment(env, pid);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!passed.passed) return undefined;
  let stats: fs.Stats;
  try {
    stats = fs.fstatSync(passed.fd);
  } catch (error) {
    throw new StartupError(`systemd said it passed a socket as fd ${passed.fd}, which is not open (${(error as Error).message})`);
  }
  if (!stats.isSocket()) throw new StartupError(`fd ${passed.fd}, passed by systemd, is not a socket`);
  return { fd: passed.fd, entry: unixSocketEntry(fs.readFileSync('/proc/self/net/unix', 'utf8'), stats.ino) };
}

/**
 * Refuses (StartupError) a passed socket that cannot serve socketPath, the
 * configured path clients are told to use; returns whether its path could be
 * checked (it could not when /proc/self/net/unix does not list it).
 */
export function checkPassedSocket(passed: PassedSocket, socketPath: string): boolean {
  const problem = passedSocketProblem(passed.entry, socketPath);
  if (problem !== undefined) throw unservablePassedSocket(problem);
  return passed.entry !== undefined;
}

/** Why a daemon refuses the socket systemd passed, and the fix. */
export function unservablePassedSocket(problem: string): StartupError {
  return new StartupError(`the socket systemd passed cannot be served: ${problem}; make the .socket unit's ListenStream= and the configured socket name the same path`);
}
