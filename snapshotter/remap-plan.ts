/**
 * What a snapshot with containerd's uid/gid mapping labels needs, as
 * containerd 2.x's overlayfs snapshotter answers them
 * (plugins/snapshots/overlay/overlay.go: createSnapshot chowns the new fs/ to
 * the mapping's root pair; mounts() puts uidmap=/gidmap= first, and the mount
 * code, core/mount/mount_linux.go prepareIDMappedOverlay, then mounts the
 * lowers idmapped). Pure.
 *
 * containerd sends the labels in two situations, and tsov must tell them
 * apart because its capability is configured in containerd, not asked of tsov:
 * - `remap-ids` in [proxy_plugins.tsov] capabilities: the parent is the
 *   image's top layer and the layers must be idmapped at mount time;
 * - without it, the client has already made a chowned copy of the image
 *   (client/snapshotter_opts_unix.go resolveSnapshotOptions) and the parent is
 *   that copy: idmapping it again would shift every id twice. The copy's name
 *   is derived from its own parent and the mapping (2.x: the digest of
 *   remappedSnapshot{Parent, IDMap} as JSON; 1.7: "PARENT-UID-GID"), so it is
 *   recognised exactly.
 */
import type * as NodeCrypto from 'node:crypto';
import { InvalidArgumentError } from '../common/errors';
import {
  formatIdMap,
  ID_MAP_FORM,
  idMapOptionWords,
  IdMappingError,
  LABEL_GID_MAPPING,
  LABEL_UID_MAPPING,
  parseIdMap,
  rootPair,
  type IdMapping,
  type IdMapRange,
} from '../common/id-mapping';
import type { Labels } from './snapshot-model';

export type RemapPlan =
  /** No mapping labels: nothing to do. */
  | { kind: 'none' }
  /** Idmapped layers: fs/ owned by the mapped root, mounts carry uidmap=/gidmap=. */
  | { kind: 'idmapped'; mapping: IdMapping; owner: { uid: number; gid: number } }
  /** containerd chowned a copy of the image (no remap-ids capability): fs/ owned by the mapped root, plain mounts. */
  | { kind: 'chowned-copy'; mapping: IdMapping; owner: { uid: number; gid: number } };

/** The mapping the labels ask for, or undefined without them; InvalidArgumentError naming the label otherwise. */
export function mappingFromLabels(labels: Labels): IdMapping | undefined {
  const uidText = labels[LABEL_UID_MAPPING];
  const gidText = labels[LABEL_GID_MAPPING];
  if (uidText === undefined && gidText === undefined) return undefined;
  if (uidText === undefined || gidText === undefined) {
    const missing = uidText === undefined ? LABEL_UID_MAPPING : LABEL_GID_MAPPING;
    throw new InvalidArgumentError(`label ${missing} is missing: ${LABEL_UID_MAPPING} and ${LABEL_GID_MAPPING} go together (containerd's mount code idmaps only with both)`);
  }
  const parse = (label: string, text: string): IdMapRange[] => {
    try {
      return parseIdMap(text);
    } catch (error) {
      const why = error instanceof IdMappingError ? error.message : String(error);
      throw new InvalidArgumentError(`label ${label}=${JSON.stringify(text.slice(0, 200))} does not parse (${why}); expected ${ID_MAP_FORM}`);
    }
  };
  return { uid: parse(LABEL_UID_MAPPING, uidText), gid: parse(LABEL_GID_MAPPING, gidText) };
}

/** JSON as Go's encoding/json writes a string: it also escapes <, >, & and U+2028/U+2029. */
function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function goJsonRanges(ranges: readonly IdMapRange[]): string {
  if (ranges.length === 0) return 'null';
  // slices.SortStableFunc by ContainerID, as remappedSnapshot.ID sorts before hashing.
  const sorted = [...ranges].sort((a, b) => a.containerId - b.containerId);
  return `[${sorted.map((r) => `{"containerID":${r.containerId},"hostID":${r.hostId},"size":${r.size}}`).join(',')}]`;
}

/** node:crypto, loaded on the first remapped snapshot: at start, its OpenSSL set-up would cost every idle daemon ~2 MiB resident. */
let crypto: typeof NodeCrypto | undefined;

function sha256Hex(text: string): string {
  crypto ??= require('node:crypto') as typeof NodeCrypto;
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The name containerd 2.x gives its chowned copy of `parent` (client remappedSnapshot.ID). */
export function remappedSnapshotName(parent: string, mapping: IdMapping): string {
  const json = `{"Parent":${goJsonString(parent)},"IDMap":{"UidMap":${goJsonRanges(mapping.uid)},"GidMap":${goJsonRanges(mapping.gid)}}}`;
  return `sha256:${sha256Hex(json)}`;
}

/** The name containerd 1.7 gives it ("%s-%d-%d" of parent, host uid and gid of a single range). */
export function remappedSnapshotName17(parent: string, mapping: IdMapping): string | undefined {
  const [uid] = mapping.uid;
  const [gid] = mapping.gid;
  return uid === undefined || gid === undefined ? undefined : `${parent}-${uid.hostId}-${gid.hostId}`;
}

export interface RemapInput {
  labels: Labels;
  /** The parent's name ('' for none). */
  parent: string;
  /** The parent's own parent's name ('' for none). */
  grandparent: string;
}

/**
 * The name a containerd client gave a snapshot: containerd's metadata layer
 * names it "NAMESPACE/N/NAME" in the snapshotter (core/metadata/snapshot.go
 * createKey; a namespace holds no '/'). Names from other clients pass as they are.
 */
export function clientName(backendName: string): string {
  const match = /^[^/]+\/\d+\/(.+)$/s.exec(backendName);
  return match === null ? backendName : match[1]!;
}

/** Whether `parent` is containerd's chowned copy of `grandparent` for this mapping (both as tsov stores them). */
export function isChownedCopy(parent: string, grandparent: string, mapping: IdMapping): boolean {
  if (parent === '') return false;
  const copy = clientName(parent);
  const original = clientName(grandparent);
  return copy === remappedSnapshotName(original, mapping) || copy === remappedSnapshotName17(original, mapping);
}

export function planRemap(input: RemapInput): RemapPlan {
  const mapping = mappingFromLabels(input.labels);
  if (mapping === undefined) return { kind: 'none' };
  const owner = rootPair(mapping);
  if (owner === undefined) {
    throw new InvalidArgumentError(
      `labels ${LABEL_UID_MAPPING}=${formatIdMap(mapping.uid)} and ${LABEL_GID_MAPPING}=${formatIdMap(mapping.gid)} map no container id 0; the container's root must be mapped (expected ${ID_MAP_FORM})`,
    );
  }
  return { kind: isChownedCopy(input.parent, input.grandparent, mapping) ? 'chowned-copy' : 'idmapped', mapping, owner };
}

/** The options containerd's mount code turns into idmapped layers, first in the mount (as overlay.go mounts()). */
export function idmapMountOptions(plan: RemapPlan): string[] {
  return plan.kind === 'idmapped' ? idMapOptionWords(plan.mapping) : [];
}
