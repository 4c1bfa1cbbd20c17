import test from 'ava';
import { checkRequestShape } from '../../helper/api/check-request-shape';
import type { OverlayMountRequest } from '../../helper/api/mount-request';

const valid: OverlayMountRequest = {
  owner: 'ctr-1',
  lowers: ['/srv/layers/b', '/srv/layers/a'],
  upper: '/srv/rw/upper',
  work: '/srv/rw/work',
  target: '/run/tsov/mounts/ctr-1/0/merged',
  backend: 'kernel',
  choices: {},
};

test('a well-formed request has no problems', (t) => {
  t.deepEqual(checkRequestShape(valid), []);
  t.deepEqual(checkRequestShape({ ...valid, upper: undefined, work: undefined }), []);
  t.deepEqual(checkRequestShape({ ...valid, backend: 'memory', upper: undefined, work: undefined, memoryBytes: 64 << 20 }), []);
  t.deepEqual(checkRequestShape({ ...valid, choices: { metacopy: 'on', redirectDir: 'on', index: 'off', xino: 'auto', volatile: true } }), []);
});

const hostile: Array<[string, Partial<OverlayMountRequest>, string, RegExp]> = [
  ['a relative lower', { lowers: ['srv/a', '/b'] }, 'lowers[0]', /"srv\/a" is relative; give an absolute path/],
  ['a relative upper', { upper: 'upper' }, 'upper', /is relative/],
  ['a relative target', { target: './merged' }, 'target', /is relative/],
  ['.. in a lower', { lowers: ['/srv/layers/../../etc', '/b'] }, 'lowers[0]', /not normalised/],
  ['. in work', { work: '/srv/rw/./work' }, 'work', /not normalised/],
  ['// in target', { target: '/run//x' }, 'target', /not normalised/],
  ['a trailing slash', { upper: '/srv/rw/upper/' }, 'upper', /not normalised/],
  ['a comma in a lower (option injection)', { lowers: ['/a,upperdir=/etc', '/b'] }, 'lowers[0]', /contains ',' \(it separates mount options\)/],
  ['a comma in upper', { upper: '/srv/u,x' }, 'upper', /contains ','/],
  ['an = in work', { work: '/srv/work=x' }, 'work', /contains '='/],
  ['a colon in a lower', { lowers: ['/a:/etc', '/b'] }, 'lowers[0]', /contains ':', which separates lowerdir layers/],
  ['a backslash', { lowers: ['/a\\:b', '/b'] }, 'lowers[0]', /contains '\\' \(overlayfs reads it as an escape\)/],
  ['a double quote', { target: '/run/"x"' }, 'target', /contains '"'/],
  ['a space', { upper: '/srv/my upper' }, 'upper', /contains white space/],
  ['a tab', { lowers: ['/a\tb', '/b'] }, 'lowers[0]', /contains (a control character|white space)/],
  ['a newline', { target: '/run/x\ny' }, 'target', /contains (a control character|white space)/],
  ['a NUL byte', { lowers: ['/a\0b', '/b'] }, 'lowers[0]', /contains a NUL byte/],
  ['an escape character', { work: '/srv/\x1bwork' }, 'work', /contains a control character/],
  ['an empty path', { target: '' }, 'target', /non-empty absolute path/],
  ['zero lowers', { lowers: [] }, 'lowers', /no lower directories/],
  ['one lower and no upper', { lowers: ['/a'], upper: undefined, work: undefined }, 'lowers', /one lower and no upper is not an overlay/],
  ['upper without work', { work: undefined }, 'work', /upper and work go together/],
  ['work without upper', { upper: undefined }, 'upper', /upper and work go together/],
  ['501 lowers', { lowers: Array.from({ length: 501 }, (_, i) => `/l/${i}`) }, 'lowers', /501 lower directories; the kernel stacks at most 500/],
  ['a duplicated lower', { lowers: ['/a', '/b', '/a'] }, 'lowers[2]', /is also lowers\[0\]/],
  ['memory backend with an upper', { backend: 'memory' }, 'upper', /backend memory makes its own upper/],
  ['an unknown backend', { backend: 'zfs' as never }, 'backend', /must be one of kernel, fuse, memory, auto/],
  ['an owner with a slash', { owner: '../other' }, 'owner', /letters, digits/],
  ['an empty owner', { owner: '' }, 'owner', /letters, digits/],
  ['an option smuggled in a choice value', { choices: { index: 'off,lowerdir=/etc' as never } }, 'choices.index', /"off,lowerdir=\/etc" is not a value of this option; use one of "on", "off"/],
  ['an unknown choice', { choices: { verity: 'on' } as never }, 'choices.verity', /unknown overlay option/],
  ['a boolean choice given as text', { choices: { volatile: 'yes' as never } }, 'choices.volatile', /is not a value of this option/],
  ['metacopy without redirect_dir=on', { choices: { metacopy: 'on', redirectDir: 'nofollow' } }, 'choices.metacopy', /metacopy=on needs redirect_dir=on/],
  ['metacopy with userxattr', { choices: { metacopy: 'on', userxattr: true } }, 'choices.metacopy', /conflicts with userxattr/],
  ['userxattr with redirect_dir=on', { choices: { userxattr: true, redirectDir: 'on' } }, 'choices.redirectDir', /only redirect_dir=nofollow or off/],
  ['nfs_export with index=off', { choices: { nfsExport: 'on', index: 'off' } }, 'choices.nfsExport', /needs index=on/],
  ['nfs_export with metacopy', { choices: { nfsExport: 'on', metacopy: 'on', redirectDir: 'on' } }, 'choices.nfsExport', /conflicts with metacopy=on/],
  ['volatile without upper', { upper: undefined, work: undefined, choices: { volatile: true } }, 'choices.volatile', /volatile needs an upper/],
  ['kernel options for fuse', { backend: 'fuse', choices: { index: 'off' } }, 'choices.backend', /fuse-overlayfs takes no kernel overlay options/],
  ['a tiny memory size', { backend: 'memory', upper: undefined, work: undefined, memoryBytes: 10 }, 'memoryBytes', /at least 1 MiB/],
  // User namespaces: the ranges the kernel would refuse in uid_map (user_namespaces(7)).
  ['a uid map without ranges', { idMapping: { uid: [], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid', /at least one range/],
  ['a negative host id', { idMapping: { uid: [{ containerId: 0, hostId: -1, size: 1 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid[0]', /whole numbers below 4294967295/],
  ['a fractional size', { idMapping: { uid: [{ containerId: 0, hostId: 1, size: 1.5 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid[0]', /size at least 1/],
  ['a size of 0', { idMapping: { uid: [{ containerId: 0, hostId: 1, size: 1 }], gid: [{ containerId: 0, hostId: 1, size: 0 }] } }, 'idMapping.gid[0]', /size at least 1/],
  ['a range past 32 bits', { idMapping: { uid: [{ containerId: 0, hostId: 4294967290, size: 10 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid[0]', /reaches past id 4294967294/],
  ['a text id', { idMapping: { uid: [{ containerId: '0' as never, hostId: 1, size: 1 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid[0]', /whole numbers/],
  ['overlapping container ids', { idMapping: { uid: [{ containerId: 0, hostId: 1000, size: 10 }, { containerId: 5, hostId: 5000, size: 10 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid', /overlap in container ids at 5/],
  ['overlapping host ids', { idMapping: { uid: [{ containerId: 0, hostId: 1000, size: 10 }, { containerId: 100, hostId: 1009, size: 10 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid', /overlap in host ids at 1009/],
  ['341 ranges', { idMapping: { uid: Array.from({ length: 341 }, (_, i) => ({ containerId: i, hostId: 1000 + i, size: 1 })), gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, 'idMapping.uid', /341 ranges; the kernel takes at most 340/],
];

test('a user namespace of several ranges is accepted', (t) => {
  const idMapping = { uid: [{ containerId: 1, hostId: 110000, size: 65535 }, { containerId: 0, hostId: 1000, size: 1 }], gid: [{ containerId: 0, hostId: 100000, size: 65536 }] };
  t.deepEqual(checkRequestShape({ ...valid, idMapping }), []);
  t.deepEqual(checkRequestShape({ ...valid, backend: 'memory', upper: undefined, work: undefined, idMapping }), []);
  t.deepEqual(checkRequestShape({ ...valid, backend: 'fuse', idMapping }), []);
});

for (const [title, change, field, message] of hostile) {
  test(`refuses ${title}`, (t) => {
    const problems = checkRequestShape({ ...valid, ...change } as OverlayMountRequest);
    const problem = problems.find((p) => p.field === field);
    t.truthy(problem, `expected a problem on ${field}, got ${JSON.stringify(problems)}`);
    t.regex(problem!.message, message);
  });
}
