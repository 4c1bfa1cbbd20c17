#!/usr/bin/env -S NODE_ENV=production node --max-semi-space-size=2
/**
 * tsov-snapshotter --root DIR --address SOCKET [--config FILE] [--log-level LEVEL]
 *
 * Serves containerd's Snapshots API on a unix socket. Parses arguments, loads
 * the policy, builds the parts and starts them; SIGTERM/SIGINT finish in-flight
 * calls and close the store.
 *
 * The #! line caps V8's young generation (2 MB semi-spaces): 8 MiB less
 * resident memory when idle, for twice the time in scavenges under heavy load
 * (3.4 against 1.7 s of a 60 s load test); bench/HISTORY.md has
 * the measurements. It also sets NODE_ENV=production, as a Node service runs:
 * winston's debug channel (@dabh/diagnostics) then loads its no-op build, not
 * the colour and terminal code of its development one (~0.9 MiB resident).
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import { componentLogger, LOG_LEVELS } from '../common/log-levels';
import { runMain, serveUntilStopped } from '../common/process-main';
import { verifyPassedSocket } from '../common/socket-self-check';
import { prepareSocketPath } from '../common/unix-socket';
import { listenThenReadPolicy, startDaemon } from '../policy/daemon-start';
import type { Policy } from '../policy/policy-model';
import { systemClock } from './clock';
import { MAX_PENDING } from './deferred-removals';
import { createSnapshotsServer, serveSnapshots } from './grpc-server';
import { checkSnapshotRoot, detectHostOverlayFeatures } from './host-checks';
import { SnapshotLayout } from './layout';
import { MetadataStore } from './metadata-store';
import { MAX_SPARE_DIRECTORIES, SPARE_DIRECTORIES, SnapshotService } from './snapshot-service';
import { SNAPSHOTTER_WRITES, diskStallReport } from '../common/disk-stall';
import { IdmapSupport } from './idmap-support';

const SHUTDOWN_GRACE_MS = 10_000;
const SOCKET_DIR_MODE = 0o711;
const SOCKET_MODE = 0o660;

const USAGE = `usage: tsov-snapshotter --root DIR --address SOCKET [--config FILE] [--log-level ${LOG_LEVELS.join('|')}] [--metrics-address HOST:PORT|unix:PATH]`;

async function main(): Promise<void> {
  const started = startDaemon(USAGE, { root: { type: 'string' }, address: { type: 'string' } });
  if (started === undefined) return;
  const { stopRequested, onReload, values, common } = started;
  // A socket systemd passed (tsov-snapshotter.socket) is served from now on, its calls held until
  // the service is ready: containerd's handshake is answered while the policy is read.
  const { passed, logger, server, config } = await listenThenReadPolicy(common, USAGE, 'tsov-snapshotter', createSnapshotsServer);
  const root = values.root ?? config.snapshotter.root;
  const address = values.address ?? config.snapshotter.address;
  const verified = passed === undefined ? undefined : await verifyPassedSocket(server, passed, address);

  const layout = new SnapshotLayout(root);
  fs.mkdirSync(layout.snapshotsDir, { recursive: true, mode: 0o700 });
  checkSnapshotRoot(layout.root);
  if (passed === undefined) await prepareSocketPath(address, SOCKET_DIR_MODE);

  const diskStallMs = config.snapshotter.diskStallSeconds * 1000;
  const snapshotsLogger = componentLogger(logger, 'snapshots');
  const store = new MetadataStore(layout.metadataFile, { stall: diskStallReport(snapshotsLogger, SNAPSHOTTER_WRITES, `the snapshot metadata (fdatasync of ${layout.metadataFile}-wal)`, diskStallMs) });
  const idmap = new IdmapSupport({
    setting: config.snapshotter.remapIds,
    logger: componentLogger(logger, 'remap-ids'),
    // Loaded only when asked (remap_ids: auto), as prom-client below: the helper's client and proto cost memory.
    probe: async () => {
      const [{ HelperClient }, { idmappedLayersSupport }] = await Promise.all([import('../helper/api/helper-client'), import('../helper/api/probe-report')]);
      const helper = HelperClient.forPolicy(config.helper);
      try {
        return idmappedLayersSupport(await helper.probe(layout.root));
      } finally {
        helper.close();
      }
    },
  });
  const service = new SnapshotService({
    idmap,
    store,
    layout,
    features: detectHostOverlayFeatures(),
    clock: systemClock,
    logger: snapshotsLogger,
    diskStallMs,
  });
  await service.start();
  serveSnapshots(server, service);
  // In the background: serving does not wait for the helper's probe (a snapshot that needs its answer does).
  void idmap.start();
  const metricsAddress = common['metrics-address'] ?? config.snapshotter.metricsAddress;
  // Without an address nothing could read the metrics: prom-client is not even loaded
  // (it costs memory, and its default collectors run timers).
  let metricsServer: Server | undefined;
  if (metricsAddress !== undefined) {
    const { DaemonMetrics, serveMetrics } = await import('../common/metrics');
    const metrics = new DaemonMetrics('tsov-snapshotter');
    metrics.gauge(
      'tsov_snapshot_directories_awaiting_deletion',
      `Removed snapshots whose directories are not deleted yet (they go when the snapshotter is quiet, at Cleanup, or at once past ${MAX_PENDING}; past ${2 * MAX_PENDING} each Remove deletes its own)`,
      () => service.directoriesAwaitingDeletion,
    );
    metrics.gauge(
      'tsov_snapshot_directories_kept_mounted',
      'Of those, the ones a live overlay still used when last tried (a running container\'s snapshot removed, or a mount that outlived its container): kept, and deleted once nothing mounts them',
      () => service.directoriesKeptMounted,
    );
    metrics.gauge('tsov_spare_snapshot_directories', 'Empty snapshot directories ready for Prepare now', () => service.sparesReady);
    metrics.gauge(
      'tsov_spare_snapshot_directories_target',
      `How many empty snapshot directories the snapshotter keeps ready for Prepare: ${SPARE_DIRECTORIES} at start, doubled (up to ${MAX_SPARE_DIRECTORIES}) each time concurrent Prepares find none ready`,
      () => service.sparesTarget,
    );
    metrics.counter(
      'tsov_snapshot_directories_reused_total',
      "Spare snapshot directories made from a removed snapshot's directory and work/ (a fresh fs/ only) instead of three new directories",
      () => service.directoriesReused,
    );
    metrics.gauge(
      'tsov_snapshotter_oldest_sync_wait_seconds',
      `How long the oldest running sync that write calls wait for (the metadata WAL's fdatasync, the fsync of snapshots/) has run, 0 when none runs; past snapshotter.disk_stall_seconds the disk counts as stalled and the health check answers NOT_SERVING`,
      () => service.oldestSyncWaitMs / 1000,
    );
    metrics.gauge(
      'tsov_snapshotter_thread_heap_bytes',
      "V8 heap resident in the filesystem threads (making, deleting and measuring snapshot directories) as each last reported (after a job, at most once a second), 0 for one not running; part of the process's resident memory, not of tsov_nodejs_heap_* (the main thread's)",
      () => service.threadHeapBytes,
    );
    metricsServer = await serveMetrics(metrics, metricsAddress);
    server.observeCalls(metrics.observeCall);
  }
  onReload(logger, (policy: Policy) => {
    if (common['log-level'] === undefined) logger.level = policy.logLevel;
    const needsRestart: string[] = [];
    if (policy.snapshotter.root !== config.snapshotter.root) needsRestart.push('snapshotter.root');
    if (policy.snapshotter.address !== config.snapshotter.address) needsRestart.push('snapshotter.address');
    if (policy.snapshotter.metricsAddress !== config.snapshotter.metricsAddress) needsRestart.push('snapshotter.metrics_address');
    if (policy.snapshotter.remapIds !== config.snapshotter.remapIds) needsRestart.push('snapshotter.remap_ids');
    if (policy.snapshotter.diskStallSeconds !== config.snapshotter.diskStallSeconds) needsRestart.push('snapshotter.disk_stall_seconds');
    return needsRestart;
  });
  await serveUntilStopped({
    server,
    socket: address,
    socketMode: SOCKET_MODE,
    passed: verified,
    logger,
    stopRequested,
    describe: { root: layout.root, metrics: metricsAddress },
    stoppingMessage: 'stopping',
    close: async () => {
      metricsServer?.close();
      await service.close();
      store.close();
    },
    graceMs: SHUTDOWN_GRACE_MS,
  });
}

runMain('tsov-snapshotter', main);
