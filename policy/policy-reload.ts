/**
 * SIGHUP: read the policy file again. A file that does not load keeps the
 * policy in force and logs why; a good one is applied by the daemon, which
 * names the settings that only take effect at the next start.
 */
import type { Logger } from '../common/logger';
import type { Policy } from './policy-model';
import { readPolicy } from './policy-reader';

export type ApplyPolicy = (policy: Policy) => string[];

/**
 * Installs the SIGHUP handler at once (an early SIGHUP must not kill the
 * daemon); returns a function to call when the daemon can apply a policy.
 */
export function handleSighup(file: string | undefined): (logger: Logger, apply: ApplyPolicy) => void {
  let ready: ((signal: 'SIGHUP') => void) | undefined;
  let pending = false;
  process.on('SIGHUP', () => {
    if (ready === undefined) pending = true;
    else ready('SIGHUP');
  });
  return (logger, apply) => {
    const reload = async (): Promise<void> => {
      if (file === undefined) {
        logger.warn('SIGHUP: no --config file was given, so there is nothing to reload', { component: 'policy' });
        return;
      }
      let policy: Policy;
      try {
        policy = await readPolicy(file);
      } catch (error) {
        logger.error('SIGHUP: the policy file does not load; keeping the policy in force', { component: 'policy', file, reason: (error as Error).message });
        return;
      }
      const needsRestart = apply(policy);
      logger.info('SIGHUP: policy reloaded', { component: 'policy', file, ...(needsRestart.length > 0 ? { needs_restart: needsRestart } : {}) });
    };
    // One reload at a time, in the order of the signals: the last SIGHUP's file is the one in force.
    let reloads = Promise.resolve();
    ready = () => {
      reloads = reloads.then(reload);
    };
    if (pending) ready('SIGHUP');
  };
}
