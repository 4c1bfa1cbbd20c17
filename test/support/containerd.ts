/** A private containerd (see harness/containerd.ts) stopped in the test's teardown, pass or fail. */
import type { ExecutionContext } from 'ava';
import { startContainerd, type ContainerdOptions, type PrivateContainerd } from '../../harness/containerd';

export async function startTestContainerd(t: ExecutionContext, dir: string, tsovSocket: string, options: ContainerdOptions = {}): Promise<PrivateContainerd> {
  const containerd = await startContainerd(dir, tsovSocket, options);
  t.teardown(() => containerd.stop());
  return containerd;
}
