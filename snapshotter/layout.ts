/**
 * The snapshotter's disk layout, the same as containerd's overlayfs snapshotter:
 *   <root>/metadata.db
 *   <root>/snapshots/<id>/fs     the snapshot's contents (upperdir when active)
 *   <root>/snapshots/<id>/work   overlay workdir (active snapshots only)
 *   <root>/spare/<n>/{fs,work}   empty directories made ahead, renamed to snapshots/<id> by Prepare
 *
 * A snapshot's directory is made (under an id reserved in memory) before the
 * transaction that records it; one that no record names is a creation in
 * flight or a crash's leftover, which Cleanup removes.
 */
import path from 'node:path';

export class SnapshotLayout {
  readonly root: string;
  readonly snapshotsDir: string;
  readonly metadataFile: string;
  readonly spareDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.snapshotsDir = path.join(this.root, 'snapshots');
    this.metadataFile = path.join(this.root, 'metadata.db');
    this.spareDir = path.join(this.root, 'spare');
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
