/**
 * containerd's uid/gid mapping labels as tsov reads them (common/id-mapping.ts)
 * and what a labelled snapshot needs (snapshotter/remap-plan.ts), against
 * containerd 2.1.9: internal/userns/idmap.go (the label form, RootPair),
 * client/snapshotter_opts_unix.go (remappedSnapshot.ID, the name of the
 * client's chowned copy), v1.7.24 snapshotter_opts_unix.go ("%s-%d-%d"),
 * core/metadata/snapshot.go createKey (NAMESPACE/N/NAME), and
 * plugins/snapshots/overlay/overlay.go mounts() (uidmap=/gidmap= first).
 */
import test from 'ava';
import { formatIdMap, parseIdMap, rootPair, toHostId } from '../../common/id-mapping';
import { clientName, idmapMountOptions, isChownedCopy, mappingFromLabels, planRemap, remappedSnapshotName, remappedSnapshotName17 } from '../../snapshotter/remap-plan';
import { buildSnapshotMounts } from '../../common/overlay-mounts';

const UID = 'containerd.io/snapshot/uidmapping';
const GID = 'containerd.io/snapshot/gidmapping';
const CHAIN = 'sha256:7b1a1e5a1b2f3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5';

const parsed: Array<[string, ReturnType<typeof parseIdMap>]> = [
  ['0:100000:65536', [{ containerId: 0, hostId: 100000, size: 65536 }]],
  ['0:1000:1,1:110000:65535', [{ containerId: 0, hostId: 1000, size: 1 }, { containerId: 1, hostId: 110000, size: 65535 }]],
  ['0:4294901759:65536', [{ containerId: 0, hostId: 4294901759, size: 65536 }]],
];
for (const [text, ranges] of parsed) {
  test(`parses the id map ${text} and formats it back`, (t) => {
    t.deepEqual(parseIdMap(text), ranges);
    t.is(formatIdMap(parseIdMap(text)), text);
  });
}

const refused: Array<[string, RegExp]> = [
  ['', /"" is not CONTAINER:HOST:SIZE/],
  ['0:100000', /not CONTAINER:HOST:SIZE/],
  ['0:100000:65536:1', /not CONTAINER:HOST:SIZE/],
  // containerd's fmt.Sscanf("%d:%d:%d") stops after the third number; tsov does not guess.
  ['0:100000:65536junk', /not CONTAINER:HOST:SIZE/],
  ['-1:100000:65536', /not CONTAINER:HOST:SIZE/],
  ['0: 100000:65536', /not CONTAINER:HOST:SIZE/],
  ['0:100000:0', /maps no ids/],
  ['0:4294967295:1', /reaches past id 4294967294/],
  ['4294967290:0:10', /reaches past id/],
  ['0:1:1,', /"" is not CONTAINER:HOST:SIZE/],
  [Array.from({ length: 341 }, (_, i) => `${i}:${i}:1`).join(','), /more than 340 ranges/],
];
for (const [text, message] of refused) {
  test(`refuses the id map ${JSON.stringify(text.slice(0, 40))}`, (t) => {
    t.throws(() => parseIdMap(text), { message });
  });
}

test('container ids map into their range; ids outside every range do not', (t) => {
  const ranges = parseIdMap('0:1000:1,1:110000:65535');
  t.is(toHostId(0, ranges), 1000);
  t.is(toHostId(1, ranges), 110000);
  t.is(toHostId(65535, ranges), 175534);
  t.is(toHostId(65536, ranges), undefined);
  t.deepEqual(rootPair({ uid: ranges, gid: parseIdMap('0:2000:10') }), { uid: 1000, gid: 2000 });
  t.is(rootPair({ uid: parseIdMap('1:1000:10'), gid: ranges }), undefined);
});

test('labels: none, both, or a refusal that names the label and the expected form', (t) => {
  t.is(mappingFromLabels({ other: 'x' }), undefined);
  t.deepEqual(mappingFromLabels({ [UID]: '0:100000:65536', [GID]: '0:200000:65536' }), {
    uid: [{ containerId: 0, hostId: 100000, size: 65536 }],
    gid: [{ containerId: 0, hostId: 200000, size: 65536 }],
  });
  t.throws(() => mappingFromLabels({ [UID]: '0:100000:65536' }), { message: /label containerd\.io\/snapshot\/gidmapping is missing/ });
  t.throws(() => mappingFromLabels({ [UID]: '0:x:65536', [GID]: '0:1:1' }), {
    message: /label containerd\.io\/snapshot\/uidmapping="0:x:65536" does not parse .*expected CONTAINER:HOST:SIZE/,
  });
  t.throws(() => planRemap({ labels: { [UID]: '1:100000:65536', [GID]: '0:1:1' }, parent: CHAIN, grandparent: '' }), { message: /map no container id 0/ });
});

// Known answers from Go 1.19's encoding/json and crypto/sha256 over containerd 2.1.9's
// remappedSnapshot{Parent, IDMap{UidMap, GidMap}} (json tags containerID, hostID, size),
// sorted by container id as remappedSnapshot.ID sorts; the e2e test (remap-ids.test.ts)
// meets the real client's name.
const goVectors: Array<[string, string, string, string]> = [
  [CHAIN, '0:100000:65536', '0:100000:65536', 'sha256:c3db6533e04867336a19e3ffa65da175517dd736ab1b6d43d9246eef155ecf27'],
  [CHAIN, '1:110000:65535,0:1000:1', '0:1000:1,1:110000:65535', 'sha256:918196ef8e03148caca1dd4da70d8d428c181e8c774201465a6d1f262642f23b'],
];
for (const [parent, uid, gid, name] of goVectors) {
  test(`containerd 2.x's name for a chowned copy with uid map ${uid}`, (t) => {
    t.is(remappedSnapshotName(parent, { uid: parseIdMap(uid), gid: parseIdMap(gid) }), name);
  });
}

test("Go's JSON escapes <, > and & in the parent's name; an empty map is null", (t) => {
  t.is(remappedSnapshotName('a<b>&c', { uid: parseIdMap('0:5:1'), gid: [] }), 'sha256:8dbdfc709cd9a178efc972a05f1eb2009d72035f17503dcddfc2b020a34562a0');
});

test('names as containerd stores them in a snapshotter lose their NAMESPACE/N/ prefix', (t) => {
  t.is(clientName('k8s.io/12/sha256:abc'), 'sha256:abc');
  t.is(clientName('default/3/my/key'), 'my/key');
  t.is(clientName('sha256:abc'), 'sha256:abc');
  t.is(clientName('no-number/x/key'), 'no-number/x/key');
});

const mapping = { uid: parseIdMap('0:100000:65536'), gid: parseIdMap('0:100000:65536') };
const labels = { [UID]: '0:100000:65536', [GID]: '0:100000:65536' };
const copy2 = `default/40/${remappedSnapshotName(CHAIN, mapping)}`;
const copy17 = `default/40/${remappedSnapshotName17(CHAIN, mapping)!}`;

const plans: Array<[string, Parameters<typeof planRemap>[0], ReturnType<typeof planRemap>['kind']]> = [
  ['no labels', { labels: {}, parent: `default/3/${CHAIN}`, grandparent: 'default/2/sha256:x' }, 'none'],
  ['labels over the image (remap-ids configured)', { labels, parent: `default/3/${CHAIN}`, grandparent: 'default/2/sha256:x' }, 'idmapped'],
  ['labels over no parent', { labels, parent: '', grandparent: '' }, 'idmapped'],
  ["labels over containerd 2.x's chowned copy", { labels, parent: copy2, grandparent: `default/3/${CHAIN}` }, 'chowned-copy'],
  ["labels over containerd 1.7's chowned copy", { labels, parent: copy17, grandparent: `default/3/${CHAIN}` }, 'chowned-copy'],
  ['labels over a copy made for another range', { labels: { [UID]: '0:200000:65536', [GID]: '0:200000:65536' }, parent: copy2, grandparent: `default/3/${CHAIN}` }, 'idmapped'],
  ['labels over a copy of another parent', { labels, parent: copy2, grandparent: 'default/3/sha256:other' }, 'idmapped'],
];
for (const [title, input, kind] of plans) {
  test(`remap plan: ${title} → ${kind}`, (t) => {
    const plan = planRemap(input);
    t.is(plan.kind, kind);
    if (plan.kind !== 'none') t.deepEqual(plan.owner, { uid: toHostId(0, parseIdMap(input.labels[UID]!))!, gid: toHostId(0, parseIdMap(input.labels[GID]!))! });
    t.deepEqual(idmapMountOptions(plan), kind === 'idmapped' ? [`uidmap=${input.labels[UID]}`, `gidmap=${input.labels[GID]}`] : []);
  });
}

test('isChownedCopy needs a parent', (t) => {
  t.false(isChownedCopy('', CHAIN, mapping));
});

test("idmap options come first in every kind of mount, as containerd's overlay.go mounts() puts them", (t) => {
  const features = { indexParameterPresent: true, inUserNamespace: false };
  const leadingOptions = ['uidmap=0:100000:65536', 'gidmap=0:100000:65536'];
  const common = { fsDir: '/r/snapshots/9/fs', workDir: '/r/snapshots/9/work', features, leadingOptions };
  t.deepEqual(buildSnapshotMounts({ ...common, kind: 'active', parentFsDirs: [] })[0]!.options, [...leadingOptions, 'rw', 'rbind']);
  t.deepEqual(buildSnapshotMounts({ ...common, kind: 'view', parentFsDirs: ['/r/snapshots/1/fs'] })[0]!.options, [...leadingOptions, 'ro', 'rbind']);
  t.deepEqual(buildSnapshotMounts({ ...common, kind: 'active', parentFsDirs: ['/r/snapshots/2/fs', '/r/snapshots/1/fs'] })[0]!.options, [
    ...leadingOptions,
    'index=off',
    'workdir=/r/snapshots/9/work',
    'upperdir=/r/snapshots/9/fs',
    'lowerdir=/r/snapshots/2/fs:/r/snapshots/1/fs',
  ]);
});
