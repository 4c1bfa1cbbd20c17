/**
 * tsov-helper's operations: Probe, Mount, Unmount, Release, List, and the
 * reconciliation at start. Every request is checked twice (its shape, then
 * the filesystem facts) before anything is mounted; every mount is journaled
 * before it is made; operations run one at a time so that the kernel log read
 * after a failure belongs to that attempt.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
  DeadlineExceededError,
} from '../../common/errors';
import type { Logger } from '../../common/logger';
import { overlayDirectoriesInUse, readMountInfo, type MountInfoEntry } from '../../common/mountinfo';
import { isPathWithin } from '../../common/path-within';
import { buildOverlayOptions } from '../../common/overlay-mounts';
import { describeMountFailure } from '../failure-hints';
import { KernelLogCursor } from '../host/kernel-log';
import { mountFuseStaged, releasePrivateDirectory, type OpenedLayers } from '../host/fuse-staged-mount';
import { makeMemoryUpper } from '../host/memory-upper';
import { mountOverlayByDescriptors, unmount, type MountApi } from '../host/mount-commands';
import { descriptorMountLineBytes, mountApiForLine } from '../api/mountinfo-line';
import { closeDirectories, openDirectory, type OpenedDirectory } from '../host/opened-directory';
import { gatherAllPathFacts, type RequestedPath } from '../host/path-facts';
import { processStartTime } from '../host/process-identity';
import { isEntryMounted, mountSourceTag, ownerAlive, planReconciliation, type LivenessFacts, type ReconcileAction } from '../journal/reconcile';
import type { JournalEntry, MountJournal, OwnerLiveness } from '../journal/mount-journal';
import { chooseAutoBackend, type ProbeReport } from '../api/probe-report';
import { idMapOptionWords, rootPair } from '../../common/id-mapping';
import { ProbeCache } from '../probe/probe-cache';
import { probeDirectory } from '../probe/prober';
import { checkPlacement } from '../request/check-placement';
import { checkRequestShape, type ShapeProblem } from '../api/check-request-shape';
import type { OverlayMountRequest, ResolvedBackend } from '../api/mount-request';
import { choiceWords } from '../api/overlay-options';

export interface HelperSettings {
  /** Every layer, upper, work and target must resolve inside one of these. */
  allowedRoots: readonly string[];
  /** The helper's own directory: journal and memory tmpfs mount points. */
  stateDir: string;
  /** tmpfs size for backend memory when the request gives none. */
  defaultMemoryBytes: number;
  /** How layers reach the kernel (tsov-helper --mount-api): descriptors where the kernel takes them, or /proc/self/fd paths. */
  mountApi: MountApi;
}

export interface MountListing {
  entry: JournalEntry;
  mounted: boolean;
}

/** Problems shown in one refusal; the rest are counted (a 501-lower request can have hundreds). */
const PROBLEMS_SHOWN = 10;

function formatProblems(summary: string, problems: readonly ShapeProblem[]): string {
  const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => `${p.field}: ${p.message}`);
  if (problems.length > PROBLEMS_SHOWN) shown.push(`and ${problems.length - PROBLEMS_SHOWN} more problems`);
  return `${summary}: ${shown.join('; ')}`;
}

/** The placement checks refused the request (FAILED_PRECONDITION on the wire; counted as refused, not failed). */
export class MountRefusedError extends FailedPreconditionError {}

/** What the service reports as it works (metrics); every hook is optional. */
export interface HelperEvents {
  mountAttempt?(backend: string, result: 'mounted' | 'refused' | 'failed'): void;
  probed?(report: ProbeReport): void;
}

export class HelperService {
  private queue: Promise<unknown> = Promise.resolve();
  private settings: HelperSettings;
  private readonly probes = new ProbeCache();

  constructor(
    settings: HelperSettings,
    private readonly journal: MountJournal,
    private readonly logger: Logger,
    private readonly events: HelperEvents = {},
  ) {
    this.settings = settings;
  }

  /** A reloaded policy: allowed roots and the default memory size apply to the next request. */
  updateSettings(change: Pick<HelperSettings, 'allowedRoots' | 'defaultMemoryBytes'>): void {
    this.settings = { ...this.settings, ...change };
  }

  /** Journal entries by backend (for metrics). */
  mountsByBackend(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const entry of this.journal.all()) counts[entry.backend] = (counts[entry.backend] ?? 0) + 1;
    return counts;
  }

  /**
   * Runs privileged operations one at a time. An operation whose caller's
   * deadline has passed by its turn is not started (a Mount nobody waits for
   * would stay until its owner's Release); one that has started is never cut
   * short. Unmount and Release take no deadline: cleaning up late still helps.
   */
  private exclusive<T>(operation: () => Promise<T>, deadline?: number): Promise<T> {
    const run = (): Promise<T> =>
      deadline !== undefined && performance.now() >= deadline
        ? Promise.reject(new DeadlineExceededError("the caller's time limit passed while this call waited for the helper's earlier calls; nothing was done"))
        : operation();
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  // ---- start ----------------------------------------------------------------

  /** Settles the journal against the kernel's mount table (see journal/reconcile.ts). */
  reconcile(): Promise<ReconcileAction[]> {
    return this.exclusive(async () => {
      const actions = planReconciliation(this.journal.all(), readMountInfo(), (entry) => ownerAlive(entry.liveness, HOST_LIVENESS));
      for (const action of actions) {
        const { entry } = action;
        const fields = { mount_id: entry.id, owner: entry.owner, target: entry.target };
        if (action.kind === 'adopt') {
          if (entry.state === 'mounting') await this.journal.adopt(entry.id);
          this.logger.info('adopted a mount from the journal', fields);
          continue;
        }
        for (const target of action.targets) {
          const result = await unmount(target, true);
          if (result.outcome === 'failed') this.logger.warn('could not unmount during reconciliation', { ...fields, unmount: target, reason: result.message });
        }
        await releasePrivateDirectory(entry.privateDir);
        await this.journal.remove(entry.id);
        this.logger.info(action.kind === 'release' ? 'released a mount whose owner is gone' : 'dropped a journal entry whose mount is gone', fields);
      }
      return actions;
    });
  }

  // ---- Probe ----------------------------------------------------------------

  probe(directory: string, refresh: boolean, deadline?: number): Promise<ProbeReport> {
    return this.exclusive(() => this.probeUnlocked(directory, refresh), deadline);
  }

  private async probeUnlocked(directory: string, refresh: boolean): Promise<ProbeReport> {
    if (typeof directory !== 'string' || !directory.startsWith('/')) throw new InvalidArgumentError('probe needs an absolute directory');
    // Opened once, like a mount's layers: the checks and the probe's scratch directory go through the descriptor.
    const outcome = openDirectory(directory);
    if (outcome.kind === 'missing') throw new NotFoundError(`${JSON.stringify(directory)} does not exist; probe a directory that does`);
    if (outcome.kind === 'not-directory') throw new InvalidArgumentError(`${JSON.stringify(directory)} is not a directory`);
    if (outcome.kind === 'unresolvable') throw new InvalidArgumentError(`${JSON.stringify(directory)} cannot be resolved (${outcome.code})`);
    const opened = outcome.directory;
    try {
      const roots = [...this.settings.allowedRoots, this.settings.stateDir];
      if (!roots.some((root) => isPathWithin(opened.path, root))) {
        throw new PermissionDeniedError(`${JSON.stringify(directory)} is outside the allowed roots ${roots.join(', ')}; the probe writes a scratch directory there, so only allowed roots can be probed`);
      }
      const settings = { privateDir: path.join(this.settings.stateDir, 'probe', 'fuse'), mountApi: this.settings.mountApi };
      const { report, fresh } = await this.probes.report(opened, refresh, () => probeDirectory(opened, settings));
      if (!fresh) return report;
      this.events.probed?.(report);
      this.logger.info('probed', {
        directory: opened.path,
        filesystem: report.filesystem,
        works: report.mountChecks.filter((c) => c.ok).map((c) => c.name),
        fails: report.mountChecks.filter((c) => !c.ok).map((c) => c.name),
      });
      return report;
    } finally {
      closeDirectories([opened]);
    }
  }

  // ---- Mount ----------------------------------------------------------------

  mount(request: OverlayMountRequest, deadline?: number): Promise<JournalEntry> {
    return this.exclusive(async () => {
      try {
        const entry = await this.mountUnlocked(request);
        this.events.mountAttempt?.(entry.backend, 'mounted');
        return entry;
      } catch (error) {
        const refused = error instanceof InvalidArgumentError || error instanceof PermissionDeniedError || error instanceof MountRefusedError;
        this.events.mountAttempt?.(String(request.backend), refused ? 'refused' : 'failed');
        throw error;
      }
    }, deadline);
  }

  private async mountUnlocked(request: OverlayMountRequest): Promise<JournalEntry> {
    const shape = checkRequestShape(request);
    if (shape.length > 0) throw new InvalidArgumentError(formatProblems('refused overlay mount request', shape));

    const mounts = readMountInfo();
    const requested: RequestedPath[] = request.lowers.map((lower, i) => ({ field: `lowers[${i}]`, path: lower }));
    if (request.upper !== undefined) requested.push({ field: 'upper', path: request.upper });
    if (request.work !== undefined) requested.push({ field: 'work', path: request.work, listEntries: true });
    requested.push({ field: 'target', path: request.target });
    // Each path is opened once; the checks read the opened directories and the mount is given them.
    const gathered = await gatherAllPathFacts(requested, mounts);
    try {
      const placement = checkPlacement({ allowedRoots: this.settings.allowedRoots, paths: gathered.map((g) => g.facts), inUse: this.directoriesInUse(mounts) });
      if (placement.length > 0) throw new MountRefusedError(formatProblems('refused overlay mount', placement));
      const openedOf = (field: string) => gathered.find((g) => g.facts.field === field)?.opened;
      const layers: OpenedLayers = { lowers: request.lowers.map((_, i) => openedOf(`lowers[${i}]`)!), upper: openedOf('upper'), work: openedOf('work') };
      return await this.mountChecked(request, layers, openedOf('target')!);
    } finally {
      closeDirectories(gathered.map((g) => g.opened));
    }
  }

  /** upperdir/workdir of live overlays, from mountinfo and from the journal (a legacy mount(2) shows /proc/self/fd numbers there). */
  private directoriesInUse(mounts: readonly MountInfoEntry[]): Map<string, string> {
    const inUse = overlayDirectoriesInUse(mounts);
    for (const entry of this.journal.all()) {
      if (entry.upper !== undefined) inUse.set(entry.upper, entry.target);
      if (entry.work !== undefined) inUse.set(entry.work, entry.target);
    }
    return inUse;
  }

  private async mountChecked(request: OverlayMountRequest, layers: OpenedLayers, target: OpenedDirectory): Promise<JournalEntry> {
    const lowers = layers.lowers.map((lower) => lower.path);
    const { backend, reason } = await this.resolveBackend(request, layers.upper?.path ?? lowers[0]!);
    const liveness: OwnerLiveness = { alivePath: request.ownerAlivePath };
    if (request.ownerPid !== undefined) {
      const startTime = processStartTime(request.ownerPid);
      if (startTime === undefined) throw new InvalidArgumentError(
          `ownerPid ${request.ownerPid} is not a running process in tsov-helper's PID namespace: the caller (tsov-runtime sends its own pid) and tsov-helper must share one, as host services or with the DaemonSet's hostPID: true`,
        );
      liveness.pid = request.ownerPid;
      liveness.pidStartTime = startTime;
    }
    const id = await this.journal.begin({
      owner: request.owner,
      backend,
      backendReason: reason,
      lowers,
      upper: layers.upper?.path,
      work: layers.work?.path,
      target: target.path,
      liveness,
      createdMs: Date.now(),
    });
    try {
      const options = await this.performMount(id, backend, request, layers, target);
      await this.journal.markMounted(id, options);
      const entry = this.journal.get(id)!;
      this.logger.info('mounted', { mount_id: id, owner: entry.owner, backend, target: target.path, lowers: lowers.length, reason: reason || undefined });
      return entry;
    } catch (error) {
      await this.journal.remove(id);
      throw error;
    }
  }

  private async resolveBackend(request: OverlayMountRequest, upperOrLower: string): Promise<{ backend: ResolvedBackend; reason: string }> {
    if (request.backend !== 'auto') return { backend: request.backend, reason: '' };
    const parent = path.dirname(upperOrLower);
    const probeDir = this.settings.allowedRoots.some((root) => isPathWithin(parent, root)) ? parent : upperOrLower;
    const choice = chooseAutoBackend(await this.probeUnlocked(probeDir, false));
    if (choice.backend === undefined) throw new FailedPreconditionError(`backend auto found nothing that works: ${choice.reason}`);
    return { backend: choice.backend, reason: choice.reason };
  }

  /**
   * Makes the mount (for memory, first its tmpfs; for fuse, its staged binds)
   * and returns its options as the journal records them; undoes its own steps
   * when a later one fails.
   */
  private async performMount(id: number, backend: ResolvedBackend, request: OverlayMountRequest, layers: OpenedLayers, target: OpenedDirectory): Promise<string> {
    const privateDir = backend === 'kernel' ? undefined : path.join(this.settings.stateDir, backend, String(id));
    if (privateDir !== undefined) await this.journal.setPrivateDir(id, privateDir);
    const own: OpenedDirectory[] = [];
    try {
      let mounted = layers;
      if (backend === 'memory') {
        const owner = request.idMapping === undefined ? undefined : rootPair(request.idMapping);
        const memory = await makeMemoryUpper(id, privateDir!, request.memoryBytes ?? this.settings.defaultMemoryBytes, owner);
        own.push(memory.upper, memory.work);
        mounted = { lowers: layers.lowers, ...memory };
      }
      await this.mountOverlay(id, backend, request, mounted, target, privateDir);
      await this.checkMounted(id, target.path, mounted.upper !== undefined);
      // As recorded (tsov mounts): idmapped lowers are written as containerd writes them, uidmap=/gidmap= first.
      const idmapped = request.idMapping === undefined ? [] : idMapOptionWords(request.idMapping);
      return [...idmapped, ...buildOverlayOptions({ lowers: mounted.lowers.map((l) => l.path), upper: mounted.upper?.path, work: mounted.work?.path }, backend === 'fuse' ? [] : choiceWords(request.choices ?? {}))].join(',');
    } catch (error) {
      await releasePrivateDirectory(privateDir).catch((cleanup: unknown) =>
        this.logger.warn('could not clean up after a failed mount', { mount_id: id, reason: (cleanup as Error).message }),
      );
      throw error;
    } finally {
      closeDirectories(own);
    }
  }

  private async mountOverlay(id: number, backend: ResolvedBackend, request: OverlayMountRequest, layers: OpenedLayers, target: OpenedDirectory, privateDir: string | undefined): Promise<void> {
    const log = KernelLogCursor.openAtEnd();
    try {
      if (backend === 'fuse') {
        const result = await mountFuseStaged(privateDir!, layers, target, this.settings.mountApi, request.idMapping);
        if (!result.ok) throw new FailedPreconditionError(describeMountFailure(`fuse-overlayfs mount at ${target.path}`, log.finish(), result.message, log.available));
        return;
      }
      const descriptors = { lowers: layers.lowers.map((l) => l.fd), upper: layers.upper?.fd, work: layers.work?.fd };
      // A mountinfo line too long for Go's readers (runc's) would stop every container on the node: mountinfo-line.ts.
      const source = mountSourceTag(id);
      const lineBytes = descriptorMountLineBytes({ lowers: layers.lowers.map((l) => l.path), upper: layers.upper?.path, work: layers.work?.path }, target.path, source);
      const api = mountApiForLine(this.settings.mountApi, lineBytes);
      const result = await mountOverlayByDescriptors(source, descriptors, target.fd, request.choices ?? {}, api, request.idMapping);
      if (!result.ok) {
        const lines = [...result.kernelLog, ...log.finish()];
        throw new FailedPreconditionError(describeMountFailure(`overlay mount at ${target.path}`, lines, result.message, log.available || result.kernelLog.length > 0));
      }
    } finally {
      log.close();
    }
  }

  /** The kernel may mount an overlay read-only without failing (work/ not creatable): check, and undo if so. */
  private async checkMounted(id: number, target: string, writable: boolean): Promise<void> {
    const mounted = readMountInfo().find((m) => m.mountPoint === target && isEntryMounted(this.journal.get(id)!, [m]));
    if (mounted === undefined) throw new FailedPreconditionError(`the mount command succeeded but no overlay is mounted at ${target}`);
    if (!writable) return;
    // Written through the new mount itself (found by its mount id), not through a path that could be changed meanwhile.
    const root = openDirectory(target);
    try {
      if (root.kind !== 'opened' || root.directory.mountId !== mounted.mountId) throw new FailedPreconditionError(`${target} changed while it was being mounted; the mount is undone`);
      const marker = path.join(root.directory.handle, `.tsov-write-check-${id}`);
      await fsp.writeFile(marker, '', { flag: 'wx' });
      await fsp.unlink(marker);
    } catch (error) {
      await unmount(target, true);
      if (error instanceof FailedPreconditionError) throw error;
      throw new FailedPreconditionError(
        `the overlay at ${target} mounted but is not writable (${(error as Error).message}); the kernel falls back to read-only when it cannot use workdir: check that work is empty and on the same filesystem as upper, and see \`tsov probe\``,
      );
    } finally {
      if (root.kind === 'opened') closeDirectories([root.directory]);
    }
  }

  // ---- Unmount / Release / List -------------------------------------------

  unmount(id: number, owner: string, detach: boolean): Promise<{ detached: boolean }> {
    return this.exclusive(async () => {
      const entry = this.journal.get(id);
      if (entry === undefined) throw new NotFoundError(`no mount with id ${id}; \`tsov mounts\` lists the helper's mounts`);
      if (entry.owner !== owner) throw new PermissionDeniedError(`mount ${id} belongs to owner ${JSON.stringify(entry.owner)}, not ${JSON.stringify(owner)}; only its owner may unmount it`);
      return this.unmountEntry(entry, detach);
    });
  }

  release(owner: string, detach: boolean): Promise<number[]> {
    return this.exclusive(async () => {
      const released: number[] = [];
      const failures: string[] = [];
      for (const entry of this.journal.byOwner(owner)) {
        try {
          await this.unmountEntry(entry, detach);
          released.push(entry.id);
        } catch (error) {
          failures.push(`mount ${entry.id}: ${(error as Error).message}`);
        }
      }
      if (failures.length > 0) throw new FailedPreconditionError(`released ${released.length} of ${released.length + failures.length} mounts of ${owner}; ${failures.join('; ')}`);
      return released;
    });
  }

  private async unmountEntry(entry: JournalEntry, detach: boolean): Promise<{ detached: boolean }> {
    const fields = { mount_id: entry.id, owner: entry.owner, target: entry.target };
    let detached = false;
    if (isEntryMounted(entry, readMountInfo())) {
      const result = await unmount(entry.target, false);
      if (result.outcome === 'busy') {
        if (!detach) {
          throw new FailedPreconditionError(
            `${entry.target} is busy: a process still uses files under it (see \`fuser -vm ${entry.target}\`); stop it, or unmount with detach to let the kernel finish when it lets go`,
          );
        }
        const lazy = await unmount(entry.target, true);
        if (lazy.outcome === 'failed') throw new UnavailableError(`could not detach ${entry.target}: ${lazy.message}`);
        detached = true;
      } else if (result.outcome === 'failed') {
        throw new UnavailableError(`could not unmount ${entry.target}: ${result.message}`);
      }
    }
    await releasePrivateDirectory(entry.privateDir);
    await this.journal.remove(entry.id);
    this.logger.info(detached ? 'detached' : 'unmounted', fields);
    return { detached };
  }

  list(owner: string): MountListing[] {
    const mounts = readMountInfo();
    const entries = owner === '' ? this.journal.all() : this.journal.byOwner(owner);
    return entries.map((entry) => ({ entry, mounted: isEntryMounted(entry, mounts) }));
  }
}

/** The host's answers to ownerAlive's questions. */
const HOST_LIVENESS: LivenessFacts = { pathExists: (path) => fs.existsSync(path), processStartTime };
