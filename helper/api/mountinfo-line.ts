/**
 * The mount table's line for an overlay the helper mounts, and how to give
 * the kernel its layers so that every reader of /proc/self/mountinfo on the
 * node can still read it. Go programs read it with moby/sys/mountinfo, whose
 * GetMountsFromReader scans lines with bufio.Scanner and its default limit,
 * bufio.MaxScanTokenSize (64 KiB): one longer line and every read of the
 * table fails ("bufio.Scanner: token too long") — runc 1.1 then refuses to
 * run any container on the node, while that mount exists.
 *
 * Layers given as descriptors (fsconfig lowerdir+, Linux >= 6.13) are shown
 * by their paths, one `lowerdir+=PATH` each: 500 lowers of 130 characters
 * pass 64 KiB. Given to mount(2) as /proc/self/fd paths (tsov-mount's legacy
 * way), they are shown as their descriptor numbers. So a mount whose line
 * would pass the limit is made the legacy way (the journal still names
 * every real path: tsov mounts shows them).
 */
import type { MountApi } from '../host/mount-commands';

/** bufio.MaxScanTokenSize: the longest line (its newline included) bufio.Scanner returns by default. */
export const GO_SCANNER_LINE_LIMIT = 64 * 1024;

/**
 * Room for what the line holds beside the layers' paths, the mount point and
 * the source: ids, device, root, mount options, fs type, separators, the
 * other super options (rw, the typed choices, uuid=on, xino=…): ~100 bytes
 * for a mount of every choice, counted generously.
 */
const OTHER_FIELDS_BYTES = 1024;

/** A path as mountinfo shows it at most: space, tab, newline and backslash as \ooo; overlay's ',' ':' and '\' after a backslash. */
function shownLength(text: string): number {
  let length = text.length;
  for (const ch of text) {
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\\') length += 3;
    else if (ch === ',' || ch === ':') length += 1;
  }
  return length;
}

/** How long the mountinfo line of an overlay mounted with its layers as descriptors can be. Pure. */
export function descriptorMountLineBytes(layers: { lowers: readonly string[]; upper?: string; work?: string }, target: string, source: string): number {
  const option = (name: string, value: string | undefined) => (value === undefined ? 0 : name.length + 1 + shownLength(value) + 1);
  const lowers = layers.lowers.reduce((sum, lower) => sum + option('lowerdir+', lower), 0);
  return OTHER_FIELDS_BYTES + shownLength(target) + shownLength(source) + lowers + option('upperdir', layers.upper) + option('workdir', layers.work);
}

/** The way to mount: as asked, unless the descriptor way's line could pass what Go's readers take; then the legacy way. Pure. */
export function mountApiForLine(api: MountApi, lineBytes: number): MountApi {
  return lineBytes >= GO_SCANNER_LINE_LIMIT ? 'legacy' : api;
}
