/**
 * SIGHUP: read the policy file again. A file that does not load keeps the
 * policy in force and logs why; a good one is applied by the daemon, which
 * names the settings that only take effect at the next start.
 */
import type { Logger } from '../common/logger';
import { loadPolicy, type Policy } from './load-policy';

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
    ready = () => {
      if (file === undefined) {
        logger.warn('SIGHUP: no --config file was given, so there is nothing to reload', { component: 'policy' });
        return;
      }
      let policy: Policy;
      try {
        policy = loadPolicy(file);
      } catch (error) {
        logger.error('SIGHUP: the policy file does not load; keeping the policy in force', { component: 'policy', file, reason: (error as Error).message });
        return;
      }
      const needsRestart = apply(policy);
      logger.info('SIGHUP: policy reloaded', { component: 'policy', file, ...(needsRestart.length > 0 ? { needs_restart: needsRestart } : {}) });
    };
    if (pending) ready('SIGHUP');
  };
}
