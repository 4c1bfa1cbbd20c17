/**
 * The decisions of systemd socket activation (common/socket-activation.ts):
 * whether the environment passes this process a socket (sd_listen_fds(3):
 * LISTEN_PID must be this process's, LISTEN_FDS the count, the sockets from
 * fd 3), and what /proc/net/unix says of the socket passed — written as the
 * kernel writes it (net/unix/af_unix.c, unix_seq_show:
 * "%pK: %08X %08X %08X %04X %02X %5lu" then " " and the path, "@" for an
 * abstract name; flags 0x10000 __SO_ACCEPTCON while listening; type 1
 * SOCK_STREAM, 2 SOCK_DGRAM, 5 SOCK_SEQPACKET).
 */
import test from 'ava';
import { StartupError } from '../../common/errors';
import { LISTEN_FDS_START, listenEnvironment, passedSocketProblem, unixSocketEntry } from '../../common/socket-activation';

test('listenEnvironment: a socket only for the process LISTEN_PID names, exactly one, from fd 3', (t) => {
  const passed = [
    [{ LISTEN_PID: '42', LISTEN_FDS: '1' }, { passed: true, fd: LISTEN_FDS_START }],
    [{ LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'tsov-helper.socket' }, { passed: true, fd: 3 }],
    [{}, { passed: false }],
    // Inherited from a parent that was activated: not this process's.
    [{ LISTEN_PID: '41', LISTEN_FDS: '1' }, { passed: false }],
    [{ LISTEN_FDS: '1' }, { passed: false }],
    [{ LISTEN_PID: '042', LISTEN_FDS: '1' }, { passed: false }],
  ] as const;
  for (const [env, expected] of passed) t.deepEqual(listenEnvironment(env, 42), expected, JSON.stringify(env));
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ LISTEN_PID: '42', LISTEN_FDS: '2' }, /systemd passed 2 sockets \(LISTEN_FDS=2\); tsov serves one: its \.socket unit must have exactly one ListenStream=/],
    [{ LISTEN_PID: '42', LISTEN_FDS: '0' }, /LISTEN_FDS="0" from systemd is not a positive count/],
    [{ LISTEN_PID: '42', LISTEN_FDS: 'x' }, /LISTEN_FDS="x"/],
    [{ LISTEN_PID: '42' }, /LISTEN_FDS="" from systemd/],
    [{ LISTEN_PID: '42', LISTEN_FDS: '1 ' }, /LISTEN_FDS="1 "/],
  ];
  for (const [env, message] of refused) t.throws(() => listenEnvironment(env, 42), { instanceOf: StartupError, message }, JSON.stringify(env));
});

const PROC_NET_UNIX = [
  'Num       RefCount Protocol Flags    Type St Inode Path',
  '00000000a6159b27: 00000003 00000000 00000000 0001 03  1177',
  '00000000bdc7a92f: 00000002 00000000 00010000 0001 01 1355080 /run/tsov/helper/helper.sock',
  '00000000bdc7a930: 00000002 00000000 00000000 0001 01 1355081 /run/tsov/not-listening.sock',
  '00000000bdc7a931: 00000002 00000000 00000000 0002 01 1355082 /run/tsov/datagram.sock',
  '00000000bdc7a932: 00000002 00000000 00010000 0005 01 1355083 /run/tsov/seqpacket.sock',
  '00000000bdc7a933: 00000002 00000000 00010000 0001 01 1355084 @abstract-name',
  '00000000bdc7a934: 00000002 00000000 00010000 0001 01 1355085 /run/with space/x.sock',
  '00000000bdc7a935: 00000002 00000000 00010000 0001 01 99999 /run/other.sock',
  '',
].join('\n');

test('unixSocketEntry: the line of the inode asked for, as the kernel writes it', (t) => {
  const rows: Array<[number, ReturnType<typeof unixSocketEntry>]> = [
    [1355080, { listening: true, stream: true, path: '/run/tsov/helper/helper.sock' }],
    [1177, { listening: false, stream: true, path: '' }],
    [1355081, { listening: false, stream: true, path: '/run/tsov/not-listening.sock' }],
    [1355082, { listening: false, stream: false, path: '/run/tsov/datagram.sock' }],
    [1355083, { listening: true, stream: false, path: '/run/tsov/seqpacket.sock' }],
    [1355084, { listening: true, stream: true, path: '@abstract-name' }],
    [1355085, { listening: true, stream: true, path: '/run/with space/x.sock' }],
    [99999, { listening: true, stream: true, path: '/run/other.sock' }],
    // Not listed: a socket of another network namespace (the daemon's PrivateNetwork=yes).
    [135508, undefined],
    [1355, undefined],
  ];
  for (const [inode, expected] of rows) t.deepEqual(unixSocketEntry(PROC_NET_UNIX, inode), expected, String(inode));
});

test('passedSocketProblem: only a listening stream socket at the configured path; unknown (not listed) is not refused here', (t) => {
  const path = '/run/tsov/helper/helper.sock';
  const rows: Array<[number, string | undefined]> = [
    [1355080, undefined],
    [135508, undefined],
    [1355081, 'it is not listening'],
    [1355082, 'it is not a stream socket (ListenStream=)'],
    [1355083, 'it is not a stream socket (ListenStream=)'],
    [99999, 'it is bound to "/run/other.sock", not to "/run/tsov/helper/helper.sock", which clients are told to use'],
    [1355084, 'it is bound to "@abstract-name", not to "/run/tsov/helper/helper.sock", which clients are told to use'],
    [1177, 'it is not listening'],
  ];
  for (const [inode, problem] of rows) t.is(passedSocketProblem(unixSocketEntry(PROC_NET_UNIX, inode), path), problem, String(inode));
  t.is(passedSocketProblem({ listening: true, stream: true, path: '' }, path), 'it is bound to no path, not to "/run/tsov/helper/helper.sock", which clients are told to use');
});
