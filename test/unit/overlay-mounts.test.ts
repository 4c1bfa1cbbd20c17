import test from 'ava';
import { buildOverlayOptions, buildSnapshotMounts, type HostOverlayFeatures } from '../../common/overlay-mounts';

const plain: HostOverlayFeatures = { indexParameterPresent: false, inUserNamespace: false };
const indexOnly: HostOverlayFeatures = { indexParameterPresent: true, inUserNamespace: false };
const userns: HostOverlayFeatures = { indexParameterPresent: true, inUserNamespace: true };

const cases = [
  {
    title: 'active without parents: rw bind of its own fs',
    input: { kind: 'active', parentFsDirs: [], features: indexOnly },
    expected: [{ type: 'bind', source: '/s/5/fs', target: '', options: ['rw', 'rbind'] }],
  },
  {
    title: 'view without parents: ro bind of its own fs',
    input: { kind: 'view', parentFsDirs: [], features: indexOnly },
    expected: [{ type: 'bind', source: '/s/5/fs', target: '', options: ['ro', 'rbind'] }],
  },
  {
    title: 'view with one parent: ro bind of the parent',
    input: { kind: 'view', parentFsDirs: ['/s/2/fs'], features: indexOnly },
    expected: [{ type: 'bind', source: '/s/2/fs', target: '', options: ['ro', 'rbind'] }],
  },
  {
    title: 'active with one parent: overlay with upper and work',
    input: { kind: 'active', parentFsDirs: ['/s/2/fs'], features: plain },
    expected: [{ type: 'overlay', source: 'overlay', target: '', options: ['workdir=/s/5/work', 'upperdir=/s/5/fs', 'lowerdir=/s/2/fs'] }],
  },
  {
    title: 'active with parents, index parameter present: index=off first, nearest parent first',
    input: { kind: 'active', parentFsDirs: ['/s/3/fs', '/s/2/fs', '/s/1/fs'], features: indexOnly },
    expected: [
      {
        type: 'overlay',
        source: 'overlay',
        target: '',
        options: ['index=off', 'workdir=/s/5/work', 'upperdir=/s/5/fs', 'lowerdir=/s/3/fs:/s/2/fs:/s/1/fs'],
      },
    ],
  },
  {
    title: 'view with two parents: read-only overlay, no upper',
    input: { kind: 'view', parentFsDirs: ['/s/3/fs', '/s/2/fs'], features: indexOnly },
    expected: [{ type: 'overlay', source: 'overlay', target: '', options: ['index=off', 'lowerdir=/s/3/fs:/s/2/fs'] }],
  },
  {
    title: 'in a user namespace: userxattr after index=off',
    input: { kind: 'active', parentFsDirs: ['/s/2/fs'], features: userns },
    expected: [
      { type: 'overlay', source: 'overlay', target: '', options: ['index=off', 'userxattr', 'workdir=/s/5/work', 'upperdir=/s/5/fs', 'lowerdir=/s/2/fs'] },
    ],
  },
] as const;

for (const { title, input, expected } of cases) {
  test(`buildSnapshotMounts: ${title}`, (t) => {
    const mounts = buildSnapshotMounts({ fsDir: '/s/5/fs', workDir: '/s/5/work', ...input, parentFsDirs: [...input.parentFsDirs] });
    t.deepEqual(mounts, expected as unknown as typeof mounts);
  });
}

test('buildOverlayOptions: 128 lowers keep their order', (t) => {
  const lowers = Array.from({ length: 128 }, (_, i) => `/l/${128 - i}`);
  const options = buildOverlayOptions({ lowers });
  t.is(options.length, 1);
  t.is(options[0], `lowerdir=${lowers.join(':')}`);
});

const refusals: Array<[string, Parameters<typeof buildOverlayOptions>[0], RegExp]> = [
  ['upper without work', { lowers: ['/a'], upper: '/u' }, /upperdir and workdir go together/],
  ['work without upper', { lowers: ['/a', '/b'], work: '/w' }, /upperdir and workdir go together/],
  ['one lower and no upper', { lowers: ['/a'] }, /at least two lowerdirs/],
  ['no lower with upper', { lowers: [], upper: '/u', work: '/w' }, /at least one lowerdir/],
];

for (const [title, layers, message] of refusals) {
  test(`buildOverlayOptions refuses ${title}`, (t) => {
    t.throws(() => buildOverlayOptions(layers), { message });
  });
}
