/**
 * Pure builders for overlay mount descriptions. The snapshotter answers
 * containerd's Mounts with them, and the translator reuses the option builder
 * for spec entries. No I/O here: host facts come in as data.
 */

/** A mount as containerd.types.Mount carries it. */
export interface MountSpec {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** What the host's overlayfs needs to be told, as probed by the caller. */
export interface HostOverlayFeatures {
  /** /sys/module/overlay/parameters/index exists: containerd then adds index=off. */
  indexParameterPresent: boolean;
  /** Running inside a user namespace: overlay needs `userxattr` there (kernel >= 5.11). */
  inUserNamespace: boolean;
}

export interface OverlayLayers {
  /** Lower directories, nearest (topmost) first. */
  lowers: readonly string[];
  upper?: string;
  work?: string;
}

/**
 * Options for one kernel overlay mount, in containerd's order: feature options,
 * then workdir/upperdir, then lowerdir joined by ':' (leftmost on top).
 */
export function buildOverlayOptions(layers: OverlayLayers, featureOptions: readonly string[] = []): string[] {
  if ((layers.upper === undefined) !== (layers.work === undefined)) {
    throw new Error('overlay upperdir and workdir go together: give both or neither');
  }
  const minimumLowers = layers.upper === undefined ? 2 : 1;
  if (layers.lowers.length < minimumLowers) {
    throw new Error(
      layers.upper === undefined
        ? 'an overlay without upperdir needs at least two lowerdirs'
        : 'an overlay needs at least one lowerdir',
    );
  }
  const options = [...featureOptions];
  if (layers.upper !== undefined && layers.work !== undefined) {
    options.push(`workdir=${layers.work}`, `upperdir=${layers.upper}`);
  }
  options.push(`lowerdir=${layers.lowers.join(':')}`);
  return options;
}

/** The options containerd's overlayfs snapshotter adds from host facts. */
export function hostFeatureOptions(features: HostOverlayFeatures): string[] {
  const options: string[] = [];
  if (features.indexParameterPresent) options.push('index=off');
  if (features.inUserNamespace) options.push('userxattr');
  return options;
}

export type SnapshotMountKind = 'active' | 'view';

export interface SnapshotMountInput {
  kind: SnapshotMountKind;
  /** The snapshot's own fs directory. */
  fsDir: string;
  /** The snapshot's own work directory (used only when active with parents). */
  workDir: string;
  /** fs directories of the parent chain, nearest first. */
  parentFsDirs: readonly string[];
  features: HostOverlayFeatures;
  /** Options every mount of the snapshot starts with (uidmap=/gidmap= of an idmapped snapshot, as containerd puts them first). */
  leadingOptions?: readonly string[];
}

/**
 * Mounts for a snapshot, as containerd's overlayfs snapshotter answers them:
 * bind of its own fs when it has no parents, a read-only bind of the parent
 * for a one-parent view, otherwise an overlay.
 */
export function buildSnapshotMounts(input: SnapshotMountInput): MountSpec[] {
  const { kind, parentFsDirs } = input;
  const leading = input.leadingOptions ?? [];
  if (parentFsDirs.length === 0) {
    return [bindMount(input.fsDir, kind === 'view' ? 'ro' : 'rw', leading)];
  }
  if (kind === 'view' && parentFsDirs.length === 1) {
    return [bindMount(parentFsDirs[0]!, 'ro', leading)];
  }
  const layers: OverlayLayers =
    kind === 'active'
      ? { lowers: parentFsDirs, upper: input.fsDir, work: input.workDir }
      : { lowers: parentFsDirs };
  return [
    {
      type: 'overlay',
      source: 'overlay',
      target: '',
      options: [...leading, ...buildOverlayOptions(layers, hostFeatureOptions(input.features))],
    },
  ];
}

function bindMount(source: string, access: 'ro' | 'rw', leading: readonly string[]): MountSpec {
  return { type: 'bind', source, target: '', options: [...leading, access, 'rbind'] };
}
