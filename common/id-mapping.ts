/**
 * User-namespace id mappings (container id → host id ranges), as containerd
 * writes them in the snapshot labels containerd.io/snapshot/uidmapping and
 * gidmapping ("0:100000:65536[,…]", containerd internal/userns/idmap.go
 * Marshal) and as OCI specs carry them (linux.uidMappings). Pure: parsing,
 * the root pair, and the option words containerd's mount code reads.
 *
 * Parsing is stricter than containerd's fmt.Sscanf("%d:%d:%d"), which ignores
 * trailing text: a label tsov cannot read exactly is refused, never guessed.
 */

export interface IdMapRange {
  containerId: number;
  hostId: number;
  size: number;
}

export interface IdMapping {
  uid: readonly IdMapRange[];
  gid: readonly IdMapRange[];
}

/** The first id that is not one: (uid_t)-1. */
export const INVALID_ID = 0xffff_ffff;
/** The kernel takes at most 340 ranges per map (user_namespaces(7)); containerd's labels have one. */
export const MAX_ID_MAP_RANGES = 340;

export const LABEL_UID_MAPPING = 'containerd.io/snapshot/uidmapping';
export const LABEL_GID_MAPPING = 'containerd.io/snapshot/gidmapping';

export const ID_MAP_FORM = 'CONTAINER:HOST:SIZE[,CONTAINER:HOST:SIZE...] in decimal, e.g. 0:100000:65536';

const RANGE = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/;

export class IdMappingError extends Error {}

/** One map ("0:100000:65536,65536:200000:10"); throws IdMappingError naming the range that is wrong. */
export function parseIdMap(text: string): IdMapRange[] {
  const parts = text.split(',');
  if (parts.length > MAX_ID_MAP_RANGES) throw new IdMappingError(`more than ${MAX_ID_MAP_RANGES} ranges`);
  return parts.map((part) => {
    const match = RANGE.exec(part);
    if (match === null) throw new IdMappingError(`${JSON.stringify(part)} is not CONTAINER:HOST:SIZE`);
    const [containerId, hostId, size] = [match[1], match[2], match[3]].map(Number) as [number, number, number];
    if (size === 0) throw new IdMappingError(`${JSON.stringify(part)} maps no ids (SIZE 0)`);
    const range = { containerId, hostId, size };
    if (reachesPastLastId(range)) throw new IdMappingError(`${JSON.stringify(part)} reaches past id ${INVALID_ID - 1}`);
    return range;
  });
}

/** Whether a range's container or host ids run into (uid_t)-1, which the kernel refuses. */
export function reachesPastLastId(range: IdMapRange): boolean {
  return range.containerId + range.size > INVALID_ID || range.hostId + range.size > INVALID_ID;
}

/** The host id a container id maps to, or undefined (containerd's toHost). */
export function toHostId(containerId: number, ranges: readonly IdMapRange[]): number | undefined {
  const range = ranges.find((r) => containerId >= r.containerId && containerId < r.containerId + r.size);
  return range === undefined ? undefined : range.hostId + (containerId - range.containerId);
}

/** The host ids of the container's root, which owns a new layer's root directory. */
export function rootPair(mapping: IdMapping): { uid: number; gid: number } | undefined {
  const uid = toHostId(0, mapping.uid);
  const gid = toHostId(0, mapping.gid);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** "0:100000:65536,…": the label form, and what containerd's mount code reads from uidmap=/gidmap=. */
export function formatIdMap(ranges: readonly IdMapRange[]): string {
  return ranges.map((r) => `${r.containerId}:${r.hostId}:${r.size}`).join(',');
}

/** uidmap=…, gidmap=…: how containerd writes a mapping among mount options (first), and how tsov records it. */
export function idMapOptionWords(mapping: IdMapping): string[] {
  return [`uidmap=${formatIdMap(mapping.uid)}`, `gidmap=${formatIdMap(mapping.gid)}`];
}
