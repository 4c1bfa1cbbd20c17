/**
 * containerd's config.toml and tsov: the [proxy_plugins.tsov] table, added
 * between marker comments so `tsov uninstall` can take exactly it out again.
 * Pure text transformations; the caller keeps a backup.
 */

export const BEGIN_MARKER = '# --- added by tsov install: the tsov proxy snapshotter ---';
export const END_MARKER = '# --- end of tsov ---';

export function proxyPluginBlock(socket: string): string {
  return `${BEGIN_MARKER}\n[proxy_plugins.tsov]\n  type = "snapshot"\n  address = "${socket}"\n${END_MARKER}\n`;
}

/** Whether the config already names a tsov proxy plugin (ours or written by hand). */
export function hasTsovProxyPlugin(text: string): boolean {
  return /^\s*\[\s*proxy_plugins\s*\.\s*("tsov"|'tsov'|tsov)\s*\]/m.test(text);
}

export type MergeResult = { changed: true; text: string } | { changed: false; reason: string };

/** Appends the table (a new table header may follow anything in TOML, so appending keeps the file valid). */
export function addProxyPlugin(text: string, socket: string): MergeResult {
  if (hasTsovProxyPlugin(text)) return { changed: false, reason: 'it already has [proxy_plugins.tsov]' };
  const separator = text === '' || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  return { changed: true, text: `${text}${separator}${proxyPluginBlock(socket)}` };
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
export function containerdInstructions(socket: string, runtimeBinary: string): string {
  return `Add to /etc/containerd/config.toml (containerd 1.6/1.7: version = 2; 2.x: version = 3, same table):

${proxyPluginBlock(socket)}
then restart containerd: ctr image import --snapshotter tsov, ctr run --snapshotter tsov.
For CRI (Kubernetes), see deploy/kubernetes.md: snapshotter = "tsov", and a runtime whose
BinaryName is ${runtimeBinary} for type: overlay spec mounts.`;
}
