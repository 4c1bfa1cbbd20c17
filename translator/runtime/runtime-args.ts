/**
 * Reads what tsov-runtime needs from a runc-style command line, without
 * changing it: the real runtime gets the same arguments. Pure.
 *
 *   runc [global options] COMMAND [command options] CONTAINER-ID
 */

/** Global options of runc/crun/runsc that take a value. */
const GLOBAL_WITH_VALUE = new Set(['--log', '--log-format', '--root', '--criu', '--rootless']);
/** create/run/delete options that take a value. */
const COMMAND_WITH_VALUE = new Set(['--bundle', '-b', '--console-socket', '--pid-file', '--preserve-fds']);

export interface RuntimeArgs {
  /** create, run, delete, start, state, ... (undefined for `--version` and the like). */
  command?: string;
  containerId?: string;
  /** --bundle, default: the working directory (as runc). */
  bundle?: string;
  /** --root: where the runtime keeps container state. */
  root?: string;
  /** --log and --log-format: where runc writes its own errors for the caller (containerd) to read. */
  logFile?: string;
  logFormat?: string;
  /** --preserve-fds N: fds 3..3+N-1 go to the container. */
  preserveFds: number;
}

function splitOption(arg: string): [string, string | undefined] {
  const equals = arg.indexOf('=');
  return equals === -1 || !arg.startsWith('-') ? [arg, undefined] : [arg.slice(0, equals), arg.slice(equals + 1)];
}

export function parseRuntimeArgs(argv: readonly string[]): RuntimeArgs {
  const result: RuntimeArgs = { preserveFds: 0 };
  let i = 0;
  for (; i < argv.length; i++) {
    const [name, inline] = splitOption(argv[i]!);
    if (!name.startsWith('-')) break;
    const value = GLOBAL_WITH_VALUE.has(name) ? (inline ?? argv[++i]) : undefined;
    if (name === '--root') result.root = value;
    if (name === '--log') result.logFile = value;
    if (name === '--log-format') result.logFormat = value;
  }
  result.command = argv[i];
  const positionals: string[] = [];
  for (i++; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const [name, inline] = splitOption(arg);
    if (!name.startsWith('-') || name === '-') {
      positionals.push(arg);
      continue;
    }
    const value = COMMAND_WITH_VALUE.has(name) ? (inline ?? argv[++i]) : undefined;
    if (name === '--bundle' || name === '-b') result.bundle = value;
    if (name === '--preserve-fds') result.preserveFds = Number(value ?? 0) || 0;
  }
  result.containerId = positionals[0];
  return result;
}

/** Where each runtime keeps container state when --root is not given. */
export const DEFAULT_STATE_ROOTS = { runc: '/run/runc', crun: '/run/crun', runsc: '/var/run/runsc' } as const;
