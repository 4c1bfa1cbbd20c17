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
/** Merged directories of translated spec mounts: <dir>/<container id>/<n>/merged. */
export const DEFAULT_TRANSLATION_STATE_DIR = '/run/tsov/mounts';
/** tsov-runtime's cache of policy facts ($TSOV_RUNTIME_CACHE overrides it). */
export const DEFAULT_RUNTIME_CACHE_DIR = '/run/tsov/runtime';
