/**
 * The I/O around the translator for one container: ask tsov-helper to probe
 * the uppers, translate, have the helper mount what the translation needs,
 * and release all of it again (after delete, or when anything fails).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DeadlineExceededError, UnavailableError, errnoCode } from '../../common/errors';
import type { RuntimeSettings, TranslationPolicy } from '../../policy/translation-policy';
import type { ProbeReport } from '../../helper/api/probe-report';
import type { HelperClient } from '../../helper/api/helper-client';
import type { OciSpec } from '../spec/oci-spec';
import type { IdMapping } from '../../common/id-mapping';
import { containerStateDirectory } from '../state-layout';
import { directoriesToProbe, translate, type Translation } from '../translate';

export interface ContainerMountContext {
  containerId: string;
  policy: TranslationPolicy;
  runtime: RuntimeSettings;
  /** The runtime's state directory of the container: the helper releases the mounts once it is gone. */
  ownerAlivePath?: string;
  /**
   * The process making them (tsov-runtime create), alive until the real
   * runtime has made ownerAlivePath: a helper restarted in between keeps the
   * mounts (helper/journal/reconcile.ts, ownerAlive).
   */
  ownerPid?: number;
  /** The container's user namespace (SpecDocument.userNamespace). */
  userNamespace?: IdMapping;
}

/** A helper that cannot be reached or did not answer in time: every later call would fail or wait the same way. */
function helperNotAnswering(error: unknown): error is UnavailableError | DeadlineExceededError {
  return error instanceof UnavailableError || error instanceof DeadlineExceededError;
}

/**
 * Probes each upper through the helper; a directory the helper will not probe
 * is left out (the mount request then says why). A helper that cannot be
 * reached or does not answer fails it all: every other call would wait as long.
 */
export async function probeUppers(spec: OciSpec, client: HelperClient): Promise<Map<string, ProbeReport>> {
  const probes = new Map<string, ProbeReport>();
  for (const dir of directoriesToProbe(spec)) {
    try {
      probes.set(dir, await client.probe(dir));
    } catch (error) {
      if (helperNotAnswering(error)) throw error;
      // outside the allowed roots or missing: translate() notes "not probed", the helper refuses the mount with the reason
    }
  }
  return probes;
}



export interface MountedTranslation {
  translation: Translation;
  /** The helper's ids of the mounts this call made: exactly what undoMounts() takes back. */
  mounted: number[];
}

/**
 * Translates and mounts; on any failure, unmounts what this call mounted (and
 * nothing else: another create of the same id, or the running container with
 * it, keeps its mounts) and rethrows.
 */
export async function mountForContainer(spec: OciSpec, context: ContainerMountContext, client: HelperClient): Promise<MountedTranslation> {
  let probes = new Map<string, ProbeReport>();
  let unreachable: Error | undefined;
  try {
    probes = await probeUppers(spec, client);
  } catch (error) {
    // A translation that mounts nothing (sandbox mode, say) needs no helper; one that mounts fails now, not after waiting again.
    if (!helperNotAnswering(error)) throw error;
    unreachable = error;
  }
  const translation = translate(spec, { containerId: context.containerId, policy: context.policy, runtime: context.runtime, probes, userNamespace: context.userNamespace });
  if (unreachable !== undefined && translation.actions.length > 0) throw unreachable;
  const mounted: number[] = [];
  try {
    for (const action of translation.actions) {
      fs.mkdirSync(action.request.target, { recursive: true, mode: 0o755 });
      mounted.push((await client.mount({ ...action.request, ownerAlivePath: context.ownerAlivePath, ownerPid: context.ownerPid })).id);
    }
  } catch (error) {
    await undoMounts(context.containerId, mounted, context.policy, client).catch(() => undefined);
    throw error;
  }
  return { translation, mounted };
}

/**
 * Unmounts the given mounts of this container (detaching busy ones) and
 * removes its empty mount points. A helper that lets one Unmount pass its
 * time limit is not asked for the others (each would wait as long): they are
 * the container's Release's, or the helper's next start's, to unmount.
 */
export async function undoMounts(containerId: string, mounted: readonly number[], policy: TranslationPolicy, client: HelperClient): Promise<void> {
  const failures: string[] = [];
  const newestFirst = [...mounted].reverse();
  for (const [index, id] of newestFirst.entries()) {
    try {
      await client.unmount(id, containerId, true);
    } catch (error) {
      failures.push(`mount ${id}: ${(error as Error).message}`);
      if (error instanceof DeadlineExceededError) {
        const left = newestFirst.slice(index + 1);
        if (left.length > 0) failures.push(`mounts ${left.join(', ')} not tried: tsov-helper is not answering`);
        break;
      }
    }
  }
  removeEmptyTree(containerStateDirectory(policy.stateDir, containerId));
  if (failures.length > 0) throw new Error(`could not unmount what this call mounted: ${failures.join('; ')}`);
}

/** Unmounts everything of the container (detaching busy mounts) and removes its empty mount points. */
export async function releaseForContainer(containerId: string, policy: TranslationPolicy, client: HelperClient): Promise<number[]> {
  const released = await client.release(containerId, true);
  removeEmptyTree(containerStateDirectory(policy.stateDir, containerId));
  return released;
}

/**
 * rmdir of <id>/<n>/merged, <id>/<n> and <id>, nothing else: it never looks
 * inside a merged directory (if one is still mounted, rmdir says EBUSY and it
 * stays), so it cannot touch a container's files.
 */
function removeEmptyTree(dir: string): void {
  let indexes: string[];
  try {
    indexes = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const index of indexes) {
    quietRmdir(path.join(dir, index, 'merged'));
    quietRmdir(path.join(dir, index));
  }
  quietRmdir(dir);
}

function quietRmdir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    if (!['ENOTEMPTY', 'EBUSY', 'ENOENT', 'ENOTDIR'].includes(errnoCode(error) ?? '')) throw error;
  }
}
