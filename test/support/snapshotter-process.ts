/**
 * A real tsov-snapshotter (see harness/daemon-process.ts) with a gRPC
 * client, killed in the test's teardown whatever happens.
 */
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { startSnapshotterProcess, type SnapshotterProcess } from '../../harness/daemon-process';
import { withClient } from './daemon-fixture';
import { SnapshotsClient } from './snapshots-client';

export interface RunningSnapshotter extends SnapshotterProcess {
  client: SnapshotsClient;
}

export async function startSnapshotter(t: ExecutionContext, root: string, socket = path.join(root, 'tsov.sock'), extraArgs: string[] = []): Promise<RunningSnapshotter> {
  const running = await startSnapshotterProcess(root, socket, ['--log-level', 'warn', ...extraArgs]);
  return withClient(t, running, new SnapshotsClient(socket));
}
