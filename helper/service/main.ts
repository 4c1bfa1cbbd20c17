#!/usr/bin/env -S NODE_ENV=production node --max-semi-space-size=2
/**
 * tsov-helper --socket PATH [--config FILE] [--state-dir DIR] [--allowed-root DIR]... [--log-level LEVEL] [--mount-api auto|legacy]
 *
 * The only tsov process that mounts. Serves tsov.helper.v1.Helper on a unix
 * socket only root can reach (0600 in a 0700 directory). At start it settles
 * its journal against the kernel's mount table; at stop it leaves its mounts
 * in place (containers are using them) for the next start to adopt.
 *
 * The #! line's settings are explained in snapshotter/main.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HELPER_WRITES, diskStallReport, stalledReason } from '../../common/disk-stall';
import { oldestSyncMs } from '../../common/group-sync';
import { StartupError, UsageError } from '../../common/errors';
import { componentLogger, LOG_LEVELS } from '../../common/log-levels';
import { runMain, serveUntilStopped } from '../../common/process-main';
import { verifyPassedSocket } from '../../common/socket-self-check';
import { prepareSocketPath } from '../../common/unix-socket';
import { listenThenReadPolicy, startDaemon } from '../../policy/daemon-start';
import type { Policy } from '../../policy/policy-model';
import type { MountApi } from '../host/mount-commands';
import { MountJournal } from '../journal/mount-journal';
import { createHelperServer, serveHelper } from './grpc-server';
import type { Server } from 'node:http';
import { HelperService, type HelperEvents } from './helper-service';

const SHUTDOWN_GRACE_MS = 10_000;
const SOCKET_DIR_MODE = 0o700;
const SOCKET_MODE = 0o600;

const MOUNT_APIS: readonly MountApi[] = ['auto', 'legacy'];
const USAGE = `usage: tsov-helper --socket PATH [--config FILE] [--state-dir DIR] [--allowed-root DIR]... [--log-level ${LOG_LEVELS.join('|')}] [--metrics-address HOST:PORT] [--mount-api ${MOUNT_APIS.join('|')}]`;

/** The socket's directory must be root's alone: anyone who can connect can ask for mounts. */
function checkSocketDirectory(socketPath: string): void {
  const dir = path.dirname(socketPath);
  const stat = fs.statSync(dir);
  if (stat.uid !== 0 || (stat.mode & 0o077) !== 0) {
    throw new StartupError(
      `${dir} (mode ${(stat.mode & 0o777).toString(8)}, owner uid ${stat.uid}) can be entered by others; the helper socket needs a directory only root can enter: use e.g. /run/tsov/helper, or chmod 0700 ${dir}`,
    );
  }
}

/** Allowed roots as absolute, symlink-resolved paths (a root given through a symlink still matches what realpath returns). */
function resolveRoots(roots: readonly string[]): string[] {
  return roots.map((root) => {
    if (!path.isAbsolute(root)) throw new StartupError(`allowed root ${JSON.stringify(root)} must be an absolute path`);
    const resolved = fs.existsSync(root) ? fs.realpathSync(root) : path.resolve(root);
    if (resolved === '/') throw new StartupError(`allowed root ${JSON.stringify(root)} is / (or leads there): the helper could mount any host directory; name the directories that hold layers`);
    return resolved;
  });
}

async function main(): Promise<void> {
  const started = startDaemon(USAGE, {
    socket: { type: 'string' },
    'state-dir': { type: 'string' },
    'allowed-root': { type: 'string', multiple: true },
    'mount-api': { type: 'string' },
  });
  if (started === undefined) return;
  if (process.getuid?.() !== 0) throw new StartupError('tsov-helper mounts filesystems and must run as root');
  const { stopRequested, onReload, values, common } = started;
  const mountApi = (values['mount-api'] ?? 'auto') as MountApi;
  if (!MOUNT_APIS.includes(mountApi)) throw new UsageError(`--mount-api must be one of ${MOUNT_APIS.join(', ')}`, USAGE);
  // Before anything is spawned: a socket systemd passed (tsov-helper.socket) is taken and LISTEN_* cleared,
  // and served from now on (its handshakes answered while the policy is read), its calls held until the
  // journal is reconciled.
  const { passed, logger, server, config } = await listenThenReadPolicy(common, USAGE, 'tsov-helper', createHelperServer);
  const socket = values.socket ?? config.helper.socket;
  const stateDir = path.resolve(values['state-dir'] ?? config.helper.stateDir);
  const allowedRoots = resolveRoots(values['allowed-root'] ?? config.helper.allowedRoots);
  const verified = passed === undefined ? undefined : await verifyPassedSocket(server, passed, socket);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const journalFile = path.join(stateDir, 'journal.db');
  const diskStallMs = config.helper.diskStallSeconds * 1000;
  const journal = new MountJournal(journalFile, { stall: diskStallReport(componentLogger(logger, 'journal'), HELPER_WRITES, `the mount journal (fdatasync of ${journalFile}-wal)`, diskStallMs) });
  server.reportImpaired(() => stalledReason(HELPER_WRITES, [journal.syncRunningSinceMs], diskStallMs));
  const metricsAddress = common['metrics-address'] ?? config.helper.metricsAddress;
  // As in tsov-snapshotter: without an address nothing could read the metrics, so prom-client is not loaded.
  let metricsServer: Server | undefined;
  let events: HelperEvents = {};
  let serveHelperMetrics: (() => Promise<void>) | undefined;
  if (metricsAddress !== undefined) {
    const { DaemonMetrics, serveMetrics } = await import('../../common/metrics');
    const { HelperMetrics } = await import('./helper-metrics');
    const metrics = new DaemonMetrics('tsov-helper');
    // The gauge reads the service's journal at scrape time, after the service exists.
    events = new HelperMetrics(metrics.registry, (): Record<string, number> => service.mountsByBackend());
    metrics.gauge(
      'tsov_helper_oldest_sync_wait_seconds',
      "How long the mount journal's running fdatasync, which Mount, Unmount and Release wait for, has run, 0 when none runs; past helper.disk_stall_seconds the disk counts as stalled and the health check answers NOT_SERVING",
      () => oldestSyncMs([journal.syncRunningSinceMs], performance.now()) / 1000,
    );
    server.observeCalls(metrics.observeCall);
    serveHelperMetrics = async () => {
      metricsServer = await serveMetrics(metrics, metricsAddress);
    };
  }
  const service: HelperService = new HelperService({ allowedRoots, stateDir, defaultMemoryBytes: config.helper.memoryBytes, mountApi }, journal, componentLogger(logger, 'helper'), events);
  const actions = await service.reconcile();
  serveHelper(server, service);
  logger.info('reconciled the journal', {
    component: 'main',
    adopted: actions.filter((a) => a.kind === 'adopt').length,
    released: actions.filter((a) => a.kind === 'release').length,
    dropped: actions.filter((a) => a.kind === 'drop').length,
  });

  if (passed === undefined) await prepareSocketPath(socket, SOCKET_DIR_MODE);
  checkSocketDirectory(socket);
  await serveHelperMetrics?.();
  onReload(logger, (policy: Policy) => {
    if (common['log-level'] === undefined) logger.level = policy.logLevel;
    const needsRestart: string[] = [];
    if (values['allowed-root'] === undefined) service.updateSettings({ allowedRoots: resolveRoots(policy.helper.allowedRoots), defaultMemoryBytes: policy.helper.memoryBytes });
    else service.updateSettings({ allowedRoots, defaultMemoryBytes: policy.helper.memoryBytes });
    if (policy.helper.socket !== config.helper.socket) needsRestart.push('helper.socket');
    if (policy.helper.stateDir !== config.helper.stateDir) needsRestart.push('helper.state_dir');
    if (policy.helper.metricsAddress !== config.helper.metricsAddress) needsRestart.push('helper.metrics_address');
    if (policy.helper.diskStallSeconds !== config.helper.diskStallSeconds) needsRestart.push('helper.disk_stall_seconds');
    return needsRestart;
  });
  await serveUntilStopped({
    server,
    socket,
    socketMode: SOCKET_MODE,
    passed: verified,
    logger,
    stopRequested,
    describe: { state_dir: stateDir, allowed_roots: allowedRoots, metrics: metricsAddress },
    stoppingMessage: 'stopping; mounts stay in place for the next start',
    close: () => {
      metricsServer?.close();
      journal.close();
    },
    graceMs: SHUTDOWN_GRACE_MS,
  });
}

runMain('tsov-helper', main);
