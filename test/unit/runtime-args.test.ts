/** What tsov-runtime reads from runc command lines (containerd's shim, ctr, people). */
import test from 'ava';
import { parseRuntimeArgs } from '../../translator/runtime/runtime-args';

const cases: Array<[string, string[], Record<string, unknown>]> = [
  [
    "containerd's shim create",
    ['--root', '/run/containerd/runc/default', '--log', '/run/x/log.json', '--log-format', 'json', 'create', '--bundle', '/b', '--pid-file', '/b/init.pid', '--console-socket', '/tmp/c.sock', 'ctr1'],
    { command: 'create', containerId: 'ctr1', bundle: '/b', root: '/run/containerd/runc/default', logFile: '/run/x/log.json', logFormat: 'json', preserveFds: 0 },
  ],
  ['--opt=value forms', ['--root=/r', 'create', '--bundle=/b', '--preserve-fds=2', 'id'], { command: 'create', containerId: 'id', bundle: '/b', root: '/r', preserveFds: 2 }],
  ['-b and boolean flags', ['--debug', '--systemd-cgroup', 'run', '-d', '--no-pivot', '-b', '/b', 'id'], { command: 'run', containerId: 'id', bundle: '/b', preserveFds: 0 }],
  ['delete --force', ['--root', '/r', 'delete', '--force', 'id'], { command: 'delete', containerId: 'id', root: '/r' }],
  ['no bundle (the working directory)', ['create', 'id'], { command: 'create', containerId: 'id', bundle: undefined }],
  ['--version', ['--version'], { command: undefined, containerId: undefined }],
  ['state', ['state', 'id'], { command: 'state', containerId: 'id' }],
  ['exec with a command after --', ['exec', 'id', '--', 'ls', '-l'], { command: 'exec', containerId: 'id' }],
];

for (const [name, argv, expected] of cases) {
  test(`runc arguments: ${name}`, (t) => {
    t.like(parseRuntimeArgs(argv), expected);
  });
}
