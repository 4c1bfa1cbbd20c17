import test from 'ava';
import path from 'node:path';
import { SnapshotLayout } from '../../snapshotter/layout';

// The layout joins with '/' instead of path.join (a Prepare on 127 layers names 127 directories):
// it must give path.join's answer for every root the daemon can be given and every id or name it uses.
const ROOTS = ['/var/lib/tsov', '/var/lib/tsov/', '/var//lib/./tsov/../tsov', 'relative/root', './root/', '/'];
const IDS: Array<number | string> = [1, 42, 9_007_199_254_740_991, '17', 'left-by-a-crash', 'with space'];

for (const root of ROOTS) {
  test(`snapshot paths under ${JSON.stringify(root)} are path.join's`, (t) => {
    const layout = new SnapshotLayout(root);
    const snapshots = path.join(path.resolve(root), 'snapshots');
    t.is(layout.snapshotsDir, snapshots);
    for (const id of IDS) {
      t.is(layout.snapshotDir(id), path.join(snapshots, String(id)));
      t.is(layout.fsDir(id), path.join(snapshots, String(id), 'fs'));
      t.is(layout.workDir(id), path.join(snapshots, String(id), 'work'));
    }
  });
}
