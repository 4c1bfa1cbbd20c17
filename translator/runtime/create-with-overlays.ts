/**
 * tsov-runtime's translation path, loaded only when needed: create/run of a
 * spec with type: overlay mounts, and delete of a container that had them.
 *
 * A create owns only what it mounted itself: when anything fails after its
 * first mount (the helper, the bundle write, the real runtime), it unmounts
 * exactly those mounts, by id, and puts the bundle back as it was. A refused
 * second create of a running container's id never touches that container.
 */
import fs from 'node:fs';
import { FailedPreconditionError } from '../../common/errors';
import { loadPolicy } from '../../policy/load-policy';
import type { Policy } from '../../policy/policy-model';
import { HelperClient } from '../../helper/api/helper-client';
import { mountForContainer, releaseForContainer, undoMounts } from './container-mounts';
import { reportFailure } from './report-failure';
import type { RuntimeArgs } from './runtime-args';
import { runRealRuntime } from './run-real-runtime';
import { BundleSpec } from './spec-file';

export interface CreateRequest {
  argv: string[];
  args: RuntimeArgs;
  file: string | undefined;
  bundle: BundleSpec;
  containerId: string;
  /** The runtime's state directory of the container: it exists while a container with this id does. */
  ownerAlivePath: string;
}

/** `run` without --detach: runc waits for the container and deletes it before it returns. */
function runsInForeground(args: RuntimeArgs, argv: readonly string[]): boolean {
  return args.command === 'run' && !argv.includes('--detach') && !argv.includes('-d');
}

/**
 * tsov-helper's client for a create or a delete: a helper being restarted
 * (or not started yet) is waited for, up to the policy's call limit, so that
 * the containers created or deleted meanwhile do not fail.
 */
function helperClient(policy: Policy): HelperClient {
  return HelperClient.forPolicy(policy.helper, { waitForReady: true });
}

export async function createWithOverlays(request: CreateRequest): Promise<number> {
  const policy = loadPolicy(request.file);
  const { bundle, containerId } = request;
  if (fs.existsSync(request.ownerAlivePath)) {
    throw new FailedPreconditionError(`container ${containerId} already exists (${request.ownerAlivePath}); delete it first or choose another id`);
  }
  const original = bundle.readOriginal();
  const client = helperClient(policy);
  let mounted: number[] = [];
  try {
    const made = await mountForContainer(original.spec, { containerId, policy: policy.translation, runtime: policy.runtime, ownerAlivePath: request.ownerAlivePath, ownerPid: process.pid, userNamespace: original.userNamespace }, client);
    mounted = made.mounted;
    bundle.writeTranslated(original, made.translation.spec);
    const status = await runRealRuntime(policy.runtime.binary, request.argv, request.args.preserveFds);
    // A failed create, or a foreground run that has finished: the container is gone, and so go its mounts.
    if (status !== 0 || runsInForeground(request.args, request.argv)) {
      await undoMounts(containerId, mounted, policy.translation, client).catch(() => undefined);
      bundle.undo();
    }
    return status;
  } catch (error) {
    await undoMounts(containerId, mounted, policy.translation, client).catch(() => undefined);
    try {
      bundle.undo();
    } catch {
      // the write that failed changed nothing; the error above says why
    }
    throw error;
  } finally {
    client.close();
  }
}

export async function releaseAfterDelete(request: { args: RuntimeArgs; file: string | undefined; containerId: string; status: number }): Promise<number> {
  const policy = loadPolicy(request.file);
  const client = helperClient(policy);
  try {
    await releaseForContainer(request.containerId, policy.translation, client);
    return request.status;
  } catch (error) {
    reportFailure(
      request.args,
      `the container is deleted but its overlay mounts were not released (${(error as Error).message}); tsov-helper releases them at its next start, or run \`tsov release ${request.containerId}\``,
    );
    return request.status === 0 ? 1 : request.status;
  } finally {
    client.close();
  }
}
