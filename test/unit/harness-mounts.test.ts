/**
 * Which of containerd 2.1's leftover idmapped mounts a teardown removes
 * (harness/mounts.ts, idmapLeftoversOf): only those of layers below its own
 * directory, so a test never unmounts what another test's containerd is using.
 */
import test from 'ava';
import { parseMountInfo } from '../../common/mountinfo';
import { idmapLeftoversOf } from '../../harness/mounts';

const MOUNTINFO = parseMountInfo(
  [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    // Left by a shim (the layers' directory since deleted, as mountinfo marks it).
    '44 22 254:0 /tmp/tsov-bench-a/remap/tsov/root/snapshots//deleted /tmp/ovl-idmapped1 ro,relatime,idmapped - ext4 /dev/vda rw',
    '45 22 254:0 /tmp/tsov-bench-a/remap/containerd/root/io.containerd.snapshotter.v1.overlayfs/snapshots /tmp/ovl-idmapped2 ro,relatime,idmapped - ext4 /dev/vda rw',
    // Another test's, in use.
    '46 22 254:0 /tmp/tsov-e2e-b/tsov/root/snapshots /tmp/ovl-idmapped3 ro,relatime,idmapped - ext4 /dev/vda rw',
    // Named alike but not idmapped, and idmapped but not containerd's.
    '47 22 254:0 /tmp/tsov-bench-a/x /tmp/ovl-idmapped4 rw,relatime - ext4 /dev/vda rw',
    '48 22 254:0 /tmp/tsov-bench-a/y /tmp/tsov-bench-a/lowers/0 ro,relatime,idmapped - ext4 /dev/vda rw',
    // A sibling directory whose name starts like this one's.
    '49 22 254:0 /tmp/tsov-bench-ab/root/snapshots /tmp/ovl-idmapped5 ro,relatime,idmapped - ext4 /dev/vda rw',
  ].join('\n'),
);

const ROWS: ReadonlyArray<[string, string[]]> = [
  ['/tmp/tsov-bench-a', ['/tmp/ovl-idmapped1', '/tmp/ovl-idmapped2']],
  ['/tmp/tsov-bench-a/remap/tsov', ['/tmp/ovl-idmapped1']],
  ['/tmp/tsov-e2e-b', ['/tmp/ovl-idmapped3']],
  ['/tmp/tsov-other', []],
];

for (const [dir, expected] of ROWS) {
  test(`idmapLeftoversOf(${dir}) → ${expected.length === 0 ? 'none' : expected.join(', ')}`, (t) => {
    t.deepEqual(idmapLeftoversOf(dir, MOUNTINFO), expected);
  });
}
