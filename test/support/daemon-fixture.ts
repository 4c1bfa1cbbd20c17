/** A running daemon and its client, both closed in the test's teardown whatever happens. */
import type { ExecutionContext } from 'ava';
import type { DaemonProcess } from '../../harness/daemon-process';

export function withClient<D extends DaemonProcess, C extends { close(): void }>(t: ExecutionContext, running: D, client: C): D & { client: C } {
  t.teardown(async () => {
    client.close();
    await running.stop('SIGKILL');
  });
  return {
    ...running,
    client,
    stop: async (signal?: NodeJS.Signals) => {
      client.close();
      return running.stop(signal);
    },
  };
}
