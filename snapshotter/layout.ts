/**
 * The snapshotter's disk layout, the same as containerd's overlayfs snapshotter:
 *   <root>/metadata.db
 *   <root>/snapshots/<id>/fs     the snapshot's contents (upperdir when active)
 *   <root>/snapshots/<id>/work   overlay workdir (active snapshots only)
 *
 * A snapshot's directory is made (under an id reserved in memory) before the
 * transaction that records it; one that no record names is a creation in
 * flight, a spare made ahead for Prepare (spare-directories.ts) or a crash's
 * leftover, which Cleanup removes.
 */
import path from 'node:path';

export class SnapshotLayout {
  readonly root: string;
  readonly snapshotsDir: string;
  readonly metadataFile: string;
  /** Where spares were kept before 2026-12-03 (now in snapshots/); removed at start if found. */
  readonly legacySpareDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.snapshotsDir = path.join(this.root, 'snapshots');
    this.metadataFile = path.join(this.root, 'metadata.db');
    this.legacySpareDir = path.join(this.root, 'spare');
  }

  /*
   * Joined with '/', not path.join: root is resolved (no trailing '/', no '.'
   * or '..'), and an id is an integer or a name readdir gave, so path.join's
   * normalising would change nothing; it costs ~1 µs a call, and a Prepare on
   * 127 layers names 127 fs/ directories (0.17-0.27 ms against 0.004-0.017).
   */
  snapshotDir(id: number | string): string {
    return `${this.snapshotsDir}/${id}`;
  }

  fsDir(id: number | string): string {
    return `${this.snapshotsDir}/${id}/fs`;
  }

  workDir(id: number | string): string {
    return `${this.snapshotsDir}/${id}/work`;
  }
}
