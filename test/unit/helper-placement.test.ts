import test from 'ava';
import { checkPlacement, type PathFacts, type PlacementFacts } from '../../helper/request/check-placement';
import { overlayDirectoriesInUse, parseMountInfo } from '../../common/mountinfo';

const dir = (field: string, p: string, extra: Partial<PathFacts> = {}): PathFacts => ({
  field,
  requested: p,
  resolved: p,
  isDirectory: true,
  mountId: 30,
  mountPoint: '/',
  readOnlyMount: false,
  filesystem: 'ext4',
  ...extra,
});

const good: PathFacts[] = [
  dir('lowers[0]', '/srv/l/b'),
  dir('lowers[1]', '/srv/l/a'),
  dir('upper', '/srv/rw/upper'),
  dir('work', '/srv/rw/work', { entries: [] }),
  dir('target', '/run/tsov/m/merged'),
];

const facts = (paths: PathFacts[], inUse: Array<[string, string]> = []): PlacementFacts => ({
  allowedRoots: ['/srv', '/run/tsov'],
  paths,
  inUse: new Map(inUse),
});

const replace = (field: string, fact: PathFacts) => good.map((f) => (f.field === field ? fact : f));

test('separate directories inside the allowed roots pass', (t) => {
  t.deepEqual(checkPlacement(facts(good)), []);
});

const refusals: Array<[string, PlacementFacts, string, RegExp]> = [
  ['a missing lower', facts(replace('lowers[1]', { ...dir('lowers[1]', '/srv/l/none'), resolved: undefined })), 'lowers[1]', /does not exist; create the directory first/],
  ['a symlink loop', facts(replace('lowers[1]', { ...dir('lowers[1]', '/srv/l/loop'), resolved: undefined, unresolvable: 'ELOOP: too many symbolic links' })), 'lowers[1]', /"\/srv\/l\/loop" cannot be resolved \(ELOOP: too many symbolic links\); give a real directory/],
  ['a lower outside the roots', facts(replace('lowers[0]', dir('lowers[0]', '/etc'))), 'lowers[0]', /"\/etc" is outside the allowed roots \/srv, \/run\/tsov/],
  ['a symlink that leaves the roots', facts(replace('upper', { ...dir('upper', '/srv/link'), resolved: '/etc/secrets' })), 'upper', /"\/srv\/link" \(it resolves to "\/etc\/secrets"\) is outside the allowed roots/],
  ['a prefix that only looks inside a root', facts(replace('target', dir('target', '/srvx/merged'))), 'target', /outside the allowed roots/],
  ['a file as a lower', facts(replace('lowers[0]', dir('lowers[0]', '/srv/l/file', { isDirectory: false }))), 'lowers[0]', /is not a directory/],
  ['upper equal to a lower', facts(replace('upper', dir('upper', '/srv/l/a'))), 'upper', /is the same directory as lowers\[1\]/],
  ['a lower resolving to another lower', facts(replace('lowers[1]', { ...dir('lowers[1]', '/srv/l/alias'), resolved: '/srv/l/b' })), 'lowers[1]', /is the same directory as lowers\[0\]/],
  ['work inside upper', facts(replace('work', dir('work', '/srv/rw/upper/work', { entries: [] }))), 'work', /overlaps \(is inside or contains\) upper/],
  ['upper inside work', facts(replace('upper', dir('upper', '/srv/rw/work/up'))), 'work', /overlaps .* upper/],
  ['a lower inside upper', facts(replace('lowers[0]', dir('lowers[0]', '/srv/rw/upper/l'))), 'upper', /overlaps .* lowers\[0\]/],
  ['the target inside a layer', facts(replace('target', dir('target', '/srv/l/a/merged'))), 'target', /overlaps .* lowers\[1\]/],
  ['a layer inside the target', facts(replace('lowers[0]', dir('lowers[0]', '/run/tsov/m/merged/l'))), 'target', /overlaps .* lowers\[0\]/],
  ['a target that is already a mount point', facts(replace('target', dir('target', '/run/tsov/m/merged', { mountPoint: '/run/tsov/m/merged', mountId: 77 }))), 'target', /is already a mount point; unmount it first/],
  ['work on another mount', facts(replace('work', dir('work', '/srv/rw/work', { mountId: 99, mountPoint: '/srv/rw', entries: [] }))), 'work', /workdir must be on the same mount as upperdir/],
  ['a non-empty work', facts(replace('work', dir('work', '/srv/rw/work', { entries: ['stale'] }))), 'work', /is not empty; give an empty directory/],
  ['a work left by a volatile mount', facts(replace('work', dir('work', '/srv/rw/work', { entries: ['incompat', 'work'] }))), 'work', /left by a volatile mount/],
  ['an upper on overlayfs', facts(replace('upper', dir('upper', '/srv/rw/upper', { filesystem: 'overlay' }))), 'upper', /is on overlay, which cannot hold an overlay upper/],
  ['an upper on NFS', facts(replace('upper', dir('upper', '/srv/rw/upper', { filesystem: 'nfs' }))), 'upper', /is on nfs/],
  ['an upper on a read-only mount', facts(replace('upper', dir('upper', '/srv/rw/upper', { readOnlyMount: true, mountPoint: '/srv' }))), 'upper', /read-only mount \(\/srv\)/],
  ['an upper in use by a live overlay', facts(good, [['/srv/rw/upper', '/run/other']]), 'upper', /already the upperdir of the overlay at \/run\/other/],
  ['a work in use by a live overlay', facts(good, [['/srv/rw/work', '/run/other']]), 'work', /already the workdir of the overlay at \/run\/other/],
];

for (const [title, input, field, message] of refusals) {
  test(`checkPlacement refuses ${title}`, (t) => {
    const problems = checkPlacement(input);
    const problem = problems.find((p) => p.field === field && message.test(p.message));
    t.truthy(problem, `expected ${message} on ${field}, got ${JSON.stringify(problems, null, 1)}`);
  });
}

const MOUNTINFO = [
  '22 1 8:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 22 0:25 / /srv rw,nosuid shared:2 - ext4 /dev/vdb rw',
  '31 30 0:25 /data /srv/bound ro,relatime shared:2 - ext4 /dev/vdb rw',
  '40 22 0:40 / /run/tsov/with\\040space rw - tmpfs tmpfs rw,size=1024k',
  '41 22 0:41 / /run/other rw,relatime - overlay overlay rw,lowerdir=/srv/l/a,upperdir=/srv/rw/up\\,x,workdir=/srv/rw/work,index=off',
].join('\n');

test('parseMountInfo reads ids, mount points (unescaped), types and options', (t) => {
  const entries = parseMountInfo(MOUNTINFO);
  t.is(entries.length, 5);
  t.like(entries[2], { mountId: 31, parentId: 30, mountPoint: '/srv/bound', root: '/data', fsType: 'ext4', source: '/dev/vdb' });
  t.is(entries[0]!.root, '/');
  t.deepEqual(entries[2]!.mountOptions, ['ro', 'relatime']);
  t.is(entries[3]!.mountPoint, '/run/tsov/with space');
});

test('overlayDirectoriesInUse lists uppers and works of live overlays', (t) => {
  t.deepEqual([...overlayDirectoriesInUse(parseMountInfo(MOUNTINFO))], [
    ['/srv/rw/up,x', '/run/other'],
    ['/srv/rw/work', '/run/other'],
  ]);
});
