/**
 * The snapshotter's disk layout, the same as containerd's overlayfs snapshotter:
 *   <root>/metadata.db
 *   <root>/snapshots/<id>/fs     the snapshot's contents (upperdir when active)
 *   <root>/snapshots/<id>/work   overlay workdir (active snapshots only)
 *   <root>/snapshots/new-*       a snapshot being created, renamed to <id> in its transaction
 */
import path from 'node:path';

export const TEMP_SNAPSHOT_PREFIX = 'new-';

export class SnapshotLayout {
  readonly root: string;
  readonly snapshotsDir: string;
  readonly metadataFile: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.snapshotsDir = path.join(this.root, 'snapshots');
    this.metadataFile = path.join(this.root, 'metadata.db');
  }

  snapshotDir(id: number | string): string {
    return path.join(this.snapshotsDir, String(id));
  }

  fsDir(id: number | string): string {
    return path.join(this.snapshotDir(id), 'fs');
  }

  workDir(id: number | string): string {
    return path.join(this.snapshotDir(id), 'work');
  }
}
