/**
 * tsov-runtime's translation path, loaded only when needed: create/run of a
 * spec with type: overlay mounts, and delete of a container that had them.
 */
import { loadPolicy } from '../../policy/load-policy';
import { HelperClient } from '../helper/service/helper-client';
import { mountForContainer, releaseForContainer } from './container-mounts';
import { reportFailure } from './report-failure';
import type { RuntimeArgs } from './runtime-args';
import { runRealRuntime } from './run-real-runtime';
import { BundleSpec } from './spec-file';

export interface CreateRequest {
  argv: string[];
  args: RuntimeArgs;
  file: string | undefined;
  bundle: string;
  containerId: string;
  ownerAlivePath: string;
}

export async function createWithOverlays(request: CreateRequest): Promise<number> {
  const policy = loadPolicy(request.file);
  const bundle = new BundleSpec(request.bundle);
  const original = bundle.readOriginal();
  const client = new HelperClient(policy.helper.socket);
  try {
    const translation = await mountForContainer(
      original,
      { containerId: request.containerId, policy: policy.translation, runtime: policy.runtime, ownerAlivePath: request.ownerAlivePath },
      client,
    );
    bundle.writeTranslated(original, translation.spec);
    const status = await runRealRuntime(policy.runtime.binary, request.argv, request.args.preserveFds);
    if (status !== 0) {
      await releaseForContainer(request.containerId, policy.translation, client).catch(() => undefined);
      bundle.restore();
    }
    return status;
  } finally {
    client.close();
  }
}

export async function releaseAfterDelete(request: { args: RuntimeArgs; file: string | undefined; containerId: string; status: number }): Promise<number> {
  const policy = loadPolicy(request.file);
  const client = new HelperClient(policy.helper.socket);
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
