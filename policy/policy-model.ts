/**
 * The policy as the daemons and tools use it: typed, complete, and the
 * defaults that apply where the YAML file (load-policy.ts) says nothing or
 * no file is given. No parser or validator here, so that a daemon can hold a
 * policy without holding them (see policy-reader.ts).
 */
import type { LogLevel } from '../common/logger';
import type { RemapIdsSetting } from './policy-vocabulary';
import { DEFAULT_HELPER_CALL_TIMEOUT_SECONDS, DEFAULT_HELPER_SOCKET, DEFAULT_HELPER_STATE_DIR, DEFAULT_SNAPSHOTTER_ROOT, DEFAULT_SNAPSHOTTER_SOCKET, DEFAULT_TRANSLATION_STATE_DIR } from './defaults';
import { DEFAULT_RUNTIME, DEFAULT_TRANSLATION_POLICY, type RuntimeSettings, type TranslationPolicy } from './translation-policy';

export interface SnapshotterSettings {
  root: string;
  address: string;
  /** Prometheus endpoint (HOST:PORT or unix:/path); none when unset. */
  metricsAddress?: string;
  /** Idmapped layers for containerd's uid/gid mapping labels: where tsov-helper's probe finds they work (auto), or never (off). */
  remapIds: RemapIdsSetting;
  /** A sync that write calls wait for, running longer than this, is a stalled disk: logged, and the health check answers NOT_SERVING. */
  diskStallSeconds: number;
}

export interface HelperDaemonSettings {
  socket: string;
  stateDir: string;
  /** Every path the helper mounts from or onto must resolve inside one of these. */
  allowedRoots: string[];
  /** tmpfs size for backend memory when a request gives none. */
  memoryBytes: number;
  metricsAddress?: string;
  /** How long a caller (tsov-runtime, the CLI, the snapshotter's probe) waits for one helper call. */
  callTimeoutSeconds: number;
  /** An fdatasync of the mount journal running longer than this is a stalled disk: logged, and the health check answers NOT_SERVING. */
  diskStallSeconds: number;
}

export interface Policy {
  logLevel: LogLevel;
  snapshotter: SnapshotterSettings;
  helper: HelperDaemonSettings;
  runtime: RuntimeSettings & { root?: string };
  translation: TranslationPolicy;
}

export const DEFAULT_POLICY: Policy = {
  logLevel: 'info',
  snapshotter: { root: DEFAULT_SNAPSHOTTER_ROOT, address: DEFAULT_SNAPSHOTTER_SOCKET, remapIds: 'auto', diskStallSeconds: 30 },
  helper: {
    socket: DEFAULT_HELPER_SOCKET,
    stateDir: DEFAULT_HELPER_STATE_DIR,
    allowedRoots: [DEFAULT_SNAPSHOTTER_ROOT, DEFAULT_HELPER_STATE_DIR, DEFAULT_TRANSLATION_STATE_DIR],
    memoryBytes: 256 * 1024 * 1024,
    callTimeoutSeconds: DEFAULT_HELPER_CALL_TIMEOUT_SECONDS,
    diskStallSeconds: 30,
  },
  runtime: DEFAULT_RUNTIME,
  translation: DEFAULT_TRANSLATION_POLICY,
};
