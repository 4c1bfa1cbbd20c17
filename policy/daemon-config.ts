/**
 * The parts of the YAML policy file that the daemons read at start. Parsed and
 * validated once into a typed object; unknown keys are errors.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { StartupError } from '../common/errors';
import { LOG_LEVELS, type LogLevel } from '../common/logger';

export interface SnapshotterSettings {
  root: string;
  address: string;
}

export interface HelperDaemonSettings {
  socket: string;
  stateDir: string;
  /** Every path the helper mounts from or onto must resolve inside one of these. */
  allowedRoots: string[];
  /** tmpfs size for backend memory when a request gives none. */
  memoryBytes: number;
}

export interface DaemonConfig {
  logLevel: LogLevel;
  snapshotter: SnapshotterSettings;
  helper: HelperDaemonSettings;
}

export const DEFAULT_CONFIG: DaemonConfig = {
  logLevel: 'info',
  snapshotter: { root: '/var/lib/tsov', address: '/run/tsov/tsov.sock' },
  helper: {
    socket: '/run/tsov/helper/helper.sock',
    stateDir: '/var/lib/tsov-helper',
    allowedRoots: ['/var/lib/tsov', '/var/lib/tsov-helper'],
    memoryBytes: 256 * 1024 * 1024,
  },
};

type Raw = Record<string, unknown>;

function expectObject(value: unknown, where: string, problems: string[]): Raw {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${where}: expected a mapping`);
    return {};
  }
  return value as Raw;
}

function checkKeys(raw: Raw, allowed: readonly string[], where: string, problems: string[]): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) problems.push(`${where}${key}: unknown key (expected one of ${allowed.join(', ')})`);
  }
}

function absolutePath(value: unknown, fallback: string, where: string, problems: string[]): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    problems.push(`${where}: expected an absolute path, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}

function absolutePaths(value: unknown, fallback: string[], where: string, problems: string[]): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${where}: expected a non-empty list of absolute paths`);
    return fallback;
  }
  return value.map((item, i) => absolutePath(item, '/', `${where}[${i}]`, problems));
}

function positiveInteger(value: unknown, fallback: number, where: string, problems: string[]): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    problems.push(`${where}: expected a positive whole number, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}

/** Validates parsed YAML; every problem is reported, not just the first. */
export function parseDaemonConfig(document: unknown, file: string): DaemonConfig {
  const problems: string[] = [];
  const top = expectObject(document, 'top level', problems);
  checkKeys(top, ['log', 'snapshotter', 'helper', 'runtime', 'translation', 'metrics'], '', problems);
  const log = expectObject(top.log, 'log', problems);
  checkKeys(log, ['level'], 'log.', problems);
  let logLevel = DEFAULT_CONFIG.logLevel;
  if (log.level !== undefined) {
    if (LOG_LEVELS.includes(log.level as LogLevel)) logLevel = log.level as LogLevel;
    else problems.push(`log.level: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(log.level)}`);
  }
  const snap = expectObject(top.snapshotter, 'snapshotter', problems);
  checkKeys(snap, ['root', 'address'], 'snapshotter.', problems);
  const helper = expectObject(top.helper, 'helper', problems);
  checkKeys(helper, ['socket', 'state_dir', 'allowed_roots', 'memory_bytes'], 'helper.', problems);
  const defaults = DEFAULT_CONFIG.helper;
  const config: DaemonConfig = {
    logLevel,
    snapshotter: {
      root: absolutePath(snap.root, DEFAULT_CONFIG.snapshotter.root, 'snapshotter.root', problems),
      address: absolutePath(snap.address, DEFAULT_CONFIG.snapshotter.address, 'snapshotter.address', problems),
    },
    helper: {
      socket: absolutePath(helper.socket, defaults.socket, 'helper.socket', problems),
      stateDir: absolutePath(helper.state_dir, defaults.stateDir, 'helper.state_dir', problems),
      allowedRoots: absolutePaths(helper.allowed_roots, defaults.allowedRoots, 'helper.allowed_roots', problems),
      memoryBytes: positiveInteger(helper.memory_bytes, defaults.memoryBytes, 'helper.memory_bytes', problems),
    },
  };
  if (problems.length > 0) {
    throw new StartupError(`${file} is not a valid tsov policy:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

export function loadDaemonConfig(file: string | undefined): DaemonConfig {
  if (file === undefined) return DEFAULT_CONFIG;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new StartupError(`cannot read policy ${file}: ${(error as Error).message}`);
  }
  const document = YAML.parseDocument(text);
  if (document.errors.length > 0) {
    throw new StartupError(`${file} is not valid YAML: ${document.errors.map((e) => e.message).join('; ')}`);
  }
  return parseDaemonConfig(document.toJS(), file);
}
