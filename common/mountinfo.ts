/**
 * /proc/self/mountinfo, parsed (pure), for the helper and the test harness: which
 * live overlays use which upper and work directories.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  mountPoint: string;
  /** The path within its filesystem mounted here: "/" for a whole filesystem, the source of a bind mount (with "//deleted" once that is unlinked). */
  root: string;
  fsType: string;
  source: string;
  mountOptions: string[];
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 4) continue;
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      mountPoint: unescapeField(fields[4]!),
      root: unescapeField(fields[3]!),
      mountOptions: fields[5]!.split(','),
      fsType: fields[separator + 1]!,
      source: unescapeField(fields[separator + 2]!),
      superOptions: splitOptions(fields[separator + 3]!),
    });
  }
  return entries;
}

/** Splits an option list on commas that are not escaped with a backslash (overlayfs escapes them in paths). */
function splitOptions(list: string): string[] {
  // Most lists escape nothing: split at once (an overlay's can be kilobytes long, and a node
  // has thousands: the loop below took ~90 ms a megabyte of mount table).
  if (!list.includes('\\')) return list.split(',');
  const options: string[] = [];
  let current = '';
  for (let i = 0; i < list.length; i++) {
    const ch = list[i]!;
    if (ch === '\\' && i + 1 < list.length) {
      current += ch + list[++i]!;
    } else if (ch === ',') {
      options.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  options.push(current);
  return options;
}

/** upperdir and workdir paths of every live overlay mount. */
export function overlayDirectoriesInUse(entries: readonly MountInfoEntry[]): Map<string, string> {
  const inUse = new Map<string, string>();
  for (const entry of entries) {
    if (entry.fsType !== 'overlay') continue;
    for (const option of entry.superOptions) {
      const [key, value] = option.split('=', 2);
      if ((key === 'upperdir' || key === 'workdir') && value !== undefined) inUse.set(unescapeOverlayValue(value), entry.mountPoint);
    }
  }
  return inUse;
}

/** overlayfs shows ',' ':' and '\' in its option values with a backslash before them. */
function unescapeOverlayValue(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

/** This process's mount table, now. */
const OWN_MOUNTINFO = '/proc/self/mountinfo';

export function readMountInfo(): MountInfoEntry[] {
  return parseMountInfo(readFileSync(OWN_MOUNTINFO, 'utf8'));
}

/** Whether two processes' mount namespaces are known to be one (both links readable and equal). */
function sameMountNamespace(a: string, b: string): boolean {
  try {
    return readlinkSync(`/proc/${a}/ns/mnt`) === readlinkSync(`/proc/${b}/ns/mnt`);
  } catch {
    return false;
  }
}

/**
 * The mount tables a container's root overlay can be in, seen from here:
 * this process's and, unless it is known to share PID 1's mount namespace,
 * PID 1's, the node's, where containerd mounts containers' roots (a systemd
 * unit with ProtectSystem= has a namespace of its own that mounts propagate
 * into; a DaemonSet's container with hostPID sees the node's PID 1 but not
 * its mounts). The text of both, PID 1's first (parseMountInfo reads it as
 * one table); a table of PID 1 that cannot be read (hidden by ProtectProc=,
 * say) is left out, and this process's throws.
 */
export function readNodeMountInfoText(): string {
  const own = readFileSync(OWN_MOUNTINFO, 'utf8');
  if (sameMountNamespace('self', '1')) return own;
  try {
    return `${readFileSync('/proc/1/mountinfo', 'utf8')}\n${own}`;
  } catch {
    return own;
  }
}
