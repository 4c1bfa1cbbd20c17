/**
 * containerd's config.toml and tsov: the [proxy_plugins.tsov] table (with
 * `exports.root`, which CRI's ImageFsInfo reports on 1.7+) and, for
 * containerd 2.x, the transfer service's unpack targets (without one naming
 * tsov, `ctr images import --snapshotter tsov` and pulls fail with "no unpack
 * platforms defined"), added between marker comments so `tsov uninstall` can
 * take exactly them out again. Pure text transformations; the caller keeps a
 * backup and asks containerd for its version.
 */

import { goArch } from '../../common/go-platform';

export const BEGIN_MARKER = '# --- added by tsov install: the tsov proxy snapshotter ---';
export const END_MARKER = '# --- end of tsov ---';

/** containerd's major and minor version from `containerd --version` ("containerd github.com/containerd/containerd/v2 2.1.9+unknown"). Pure. */
export function parseContainerdVersion(output: string): { major: number; minor: number } | undefined {
  const match = /^containerd\s+\S+\s+v?(\d+)\.(\d+)\./m.exec(output);
  return match === null ? undefined : { major: Number(match[1]), minor: Number(match[2]) };
}


export interface BlockOptions {
  socket: string;
  /** tsov-snapshotter's root (snapshotter.root). */
  root: string;
  containerdMajor: number;
  /** Node's process.arch. */
  arch?: string;
  /** capabilities = [...] of the proxy (remap-capability.ts decides "remap-ids"). */
  capabilities?: readonly string[];
}

/**
 * containerd 2.x's transfer service unpack targets, one per snapshotter, for
 * linux on arch (Node's process.arch). The list replaces containerd's default. Pure.
 */
export function unpackConfigTables(snapshotters: readonly string[], arch: string = process.arch): string {
  const platform = `linux/${goArch(arch)}`;
  return snapshotters
    .map((name) => `[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]\n  platform = ${JSON.stringify(platform)}\n  snapshotter = ${JSON.stringify(name)}\n`)
    .join('\n');
}

/** What tsov adds to containerd's config; on 2.x the unpack targets name overlayfs again beside tsov. Pure. */
export function proxyPluginBlock(options: BlockOptions): string {
  const capabilities = (options.capabilities ?? []).length > 0 ? `  capabilities = [${options.capabilities!.map((c) => JSON.stringify(c)).join(', ')}]\n` : '';
  const proxy = `[proxy_plugins.tsov]\n  type = "snapshot"\n  address = ${JSON.stringify(options.socket)}\n${capabilities}  [proxy_plugins.tsov.exports]\n    root = ${JSON.stringify(options.root)}\n`;
  const transfer = options.containerdMajor >= 2 ? `\n${unpackConfigTables(['overlayfs', 'tsov'], options.arch)}` : '';
  return `${BEGIN_MARKER}\n${proxy}${transfer}${END_MARKER}\n`;
}

/** Whether the config already names a tsov proxy plugin (ours or written by hand). */
export function hasTsovProxyPlugin(text: string): boolean {
  return /^\s*\[\s*proxy_plugins\s*\.\s*("tsov"|'tsov'|tsov)\s*\]/m.test(text);
}

export type MergeResult = { changed: true; text: string } | { changed: false; reason: string };

/** The config `version` that file declares, if any. Pure. */
export function configVersion(text: string): number | undefined {
  const match = /^version\s*=\s*(\d+)\s*$/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Appends the tables (a new table header, or another element of an array of
 * tables, may follow anything in TOML, so appending keeps the file valid). An
 * empty file gets the config version of that containerd first; a file declaring
 * another version than that containerd reads natively is refused (2.x migrates
 * a version 2 file in memory, but its plugin names are 1.x's).
 */
export function addProxyPlugin(text: string, options: BlockOptions): MergeResult {
  if (hasTsovProxyPlugin(text)) return { changed: false, reason: 'it already has [proxy_plugins.tsov]' };
  const wanted = options.containerdMajor >= 2 ? 3 : 2;
  const declared = configVersion(text);
  if (declared !== undefined && declared !== wanted) {
    return { changed: false, reason: `it declares version = ${declared} but containerd ${options.containerdMajor}.x reads version = ${wanted}; migrate it first (containerd config migrate) or edit it by hand` };
  }
  const head = text.trim() === '' ? `version = ${wanted}\n\n` : text;
  const separator = head.endsWith('\n\n') ? '' : head.endsWith('\n') ? '\n' : '\n\n';
  return { changed: true, text: `${head}${separator}${proxyPluginBlock(options)}` };
}

/** Removes the block between the markers, and nothing else. */
export function removeProxyPlugin(text: string): MergeResult {
  const start = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) return { changed: false, reason: 'no block added by tsov install' };
  let after = end + END_MARKER.length;
  if (text[after] === '\n') after++;
  let before = start;
  if (before >= 2 && text.slice(before - 2, before) === '\n\n') before--;
  return { changed: true, text: text.slice(0, before) + text.slice(after) };
}

/** What to tell an operator who installs without --containerd-config. */
export function containerdInstructions(options: BlockOptions, runtimeBinary: string): string {
  return `Add to /etc/containerd/config.toml (containerd ${options.containerdMajor}.x, config version ${options.containerdMajor >= 2 ? 3 : 2}):

${proxyPluginBlock(options)}
then restart containerd: ctr image import --snapshotter tsov, ctr run --snapshotter tsov.
For CRI (Kubernetes), see deploy/kubernetes.md: snapshotter = "tsov", and a runtime whose
BinaryName is ${runtimeBinary} for type: overlay spec mounts.`;
}
