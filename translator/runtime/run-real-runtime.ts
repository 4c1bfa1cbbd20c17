/**
 * Runs the real runtime as if it had been called instead of tsov-runtime:
 * the same arguments, standard streams and extra file descriptors
 * (--preserve-fds), signals passed on, and its exit status returned.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** Resolves with the exit status (128 + signal number when the runtime was killed). */
export function runRealRuntime(binary: string, argv: readonly string[], preserveFds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const stdio: Array<'inherit' | number> = ['inherit', 'inherit', 'inherit'];
    for (let fd = 3; fd < 3 + preserveFds; fd++) stdio.push(fd);
    const child = spawn(binary, argv, { stdio });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const done = () => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.once('error', (error) => {
      done();
      reject(new Error(`cannot run ${binary}: ${error.message}; set runtime.binary in the policy`));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
