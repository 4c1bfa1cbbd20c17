/**
 * Every default path tsov uses, in one place: the policy's defaults
 * (DEFAULT_POLICY in load-policy.ts), the executables and the installer all
 * take them from here. A constants-only module, cheap for tsov-runtime to load.
 */

/** Where the policy is read from when no --config / $TSOV_CONFIG names one (if it exists). */
export const DEFAULT_POLICY_FILE = '/etc/tsov/config.yaml';
export const DEFAULT_SNAPSHOTTER_ROOT = '/var/lib/tsov';
export const DEFAULT_SNAPSHOTTER_SOCKET = '/run/tsov/tsov.sock';
export const DEFAULT_HELPER_SOCKET = '/run/tsov/helper/helper.sock';
export const DEFAULT_HELPER_STATE_DIR = '/var/lib/tsov-helper';
/**
 * How long a caller of tsov-helper (tsov-runtime, the CLI, the snapshotter's
 * probe) waits for one call: well inside the kubelet's 2-minute
 * --runtime-request-timeout, so that a hung helper fails a container start
 * with an error that names it, and well above what a mount takes (its first
 * probe of a directory included).
 */
export const DEFAULT_HELPER_CALL_TIMEOUT_SECONDS = 30;
/** Merged directories of translated spec mounts: <dir>/<container id>/<n>/merged. */
export const DEFAULT_TRANSLATION_STATE_DIR = '/run/tsov/mounts';
/** tsov-runtime's cache of policy facts ($TSOV_RUNTIME_CACHE overrides it). */
export const DEFAULT_RUNTIME_CACHE_DIR = '/run/tsov/runtime';
