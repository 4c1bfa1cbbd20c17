/**
 * Runs a program without a shell and collects its output. Arguments are an
 * array: nothing a caller passes is ever parsed by a shell.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit status, or -1 when killed by a signal or the timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /**
   * Resolve when the process exits instead of when its output closes: for
   * programs that daemonize (fuse-overlayfs), whose daemon may keep the pipes.
   */
  untilExit?: boolean;
  /** Open descriptors the program gets as fds 3, 4, ... in this order. */
  descriptors?: readonly number[];
}

const DEFAULT_TIMEOUT_MS = 60_000;

export function runCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? '/',
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', ...(options.descriptors ?? [])],
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => resolve({ code: -1, stdout, stderr: stderr + error.message }));
    child.once(options.untilExit === true ? 'exit' : 'close', (code) => {
      if (options.untilExit === true) {
        child.stdout!.destroy();
        child.stderr!.destroy();
      }
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** The first line of a command's error output, for one-line messages. */
export function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find((line) => line !== '') ?? '';
}
