/**
 * Hostile mount requests sent to a real tsov-helper: each is refused with its
 * own message, and no mount appears anywhere (mountinfo below the test's
 * directory is unchanged, and every mount the helper ever made is inside its
 * allowed roots). The pure checks have their own table tests; this one proves
 * the running service applies them, against real symlinks, mounts and files.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { mountsUnder } from '../../harness/mounts';
import { readMountInfo } from '../../common/mountinfo';
import { isPathWithin } from '../../common/path-within';
import type { OverlayMountRequest } from '../../helper/api/mount-request';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';

type Case = [name: string, change: Partial<OverlayMountRequest>, expected: RegExp];

test('at least 60 hostile requests are each refused with their own reason; nothing is mounted', async (t) => {
  const base = makeTempDir(t, 'helper-hostile');
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout);
  const R = helper.root;
  const p = (...parts: string[]) => path.join(R, ...parts);
  const outside = makeDirs(path.join(base, 'outside', 'dir'))[0]!;
  makeDirs(p('l1'), p('l2'), p('up'), p('work'), p('merged'), p('work-full'), p('work-volatile', 'incompat', 'volatile'), p('tmpfs'), p('rosrc', 'up'), p('ro'));
  makeDirs(p('nest', 'up'), p('up2', 'l'));
  makeDirs(p('live', 'lower'), p('live', 'upper'), p('live', 'work'), p('live', 'merged'));
  fs.writeFileSync(p('file'), 'not a directory');
  fs.writeFileSync(p('work-full', 'leftover'), 'x');
  fs.symlinkSync('/etc', p('link-out'));
  fs.symlinkSync(path.join(base, 'outside'), p('link-dir'));
  fs.symlinkSync(p('l1'), p('link-in'));
  fs.symlinkSync(p('loop-b'), p('loop-a'));
  fs.symlinkSync(p('loop-a'), p('loop-b'));
  // Symlinks inside the root whose targets hold what the option string or mountinfo would split on.
  makeDirs(p('a:etc'), p('u,upperdir=x'), p('sp ace'), p('nl\nx'));
  fs.symlinkSync('a:etc', p('link-colon'));
  fs.symlinkSync('u,upperdir=x', p('link-comma'));
  fs.symlinkSync('sp ace', p('link-space'));
  fs.symlinkSync('nl\nx', p('link-newline'));
  fs.symlinkSync(p('a:etc'), p('link-colon-parent'));
  makeDirs(p('a:etc', 'inner'));
  const mount = (args: string[]) => t.is(spawnSync('mount', args).status, 0, `mount ${args.join(' ')}`);
  mount(['-t', 'tmpfs', 'tsov-test', p('tmpfs')]);
  makeDirs(p('tmpfs', 'work'));
  mount(['--bind', '-o', 'ro', p('rosrc'), p('ro')]);
  const live = await helper.client.mount({ owner: 'live', lowers: [p('live', 'lower')], upper: p('live', 'upper'), work: p('live', 'work'), target: p('live', 'merged'), backend: 'kernel', choices: {} });
  makeDirs(p('live', 'merged', 'on-overlay'));

  const valid: OverlayMountRequest = { owner: 'hostile', lowers: [p('l1'), p('l2')], upper: p('up'), work: p('work'), target: p('merged'), backend: 'kernel', choices: {} };
  const cases: Case[] = [
    // paths that are not plain absolute paths
    ['a relative lower', { lowers: ['l1', p('l2')] }, /lowers\[0\]: "l1" is relative/],
    ['a relative upper', { upper: 'up' }, /upper: "up" is relative/],
    ['a relative target', { target: 'merged' }, /target: "merged" is relative/],
    ['.. escaping the root', { lowers: [`${R}/../outside/dir`, p('l2')] }, /lowers\[0\]: .* is not normalised/],
    ['.. inside the root', { upper: `${R}/l1/../up` }, /upper: .* is not normalised/],
    ['a . component', { work: `${R}/./work` }, /work: .* is not normalised/],
    ['a double slash', { target: `${R}//merged` }, /target: .* is not normalised/],
    ['a trailing slash', { upper: `${R}/up/` }, /upper: .* is not normalised/],
    ['an empty lower', { lowers: ['', p('l2')] }, /lowers\[0\]: must be a non-empty absolute path/],
    // characters that would change the option string
    ['a comma in a lower', { lowers: [`${R}/a,b`, p('l2')] }, /lowers\[0\]: .* contains ','/],
    ['upperdir injection through a comma', { upper: `${R}/up,lowerdir=/etc` }, /upper: .* contains ','.*upper: .* contains '='/],
    ['lowerdir injection through a target', { target: `${R}/merged,lowerdir=/` }, /target: .* contains ','/],
    ['an = in work', { work: `${R}/work=x` }, /work: .* contains '='/],
    ['a backslash escape', { lowers: [`${R}/l1\\:/etc`, p('l2')] }, /lowers\[0\]: .* contains '\\'/],
    ['a double quote', { upper: `${R}/"up"` }, /upper: .* contains '"'/],
    ['a space', { target: `${R}/mer ged` }, /target: .* contains white space/],
    ['a tab', { lowers: [`${R}/l\t1`, p('l2')] }, /contains a control character/],
    ['a newline', { upper: `${R}/up\nlowerdir=/etc` }, /upper: .* contains a control character/],
    ['a NUL byte', { work: `${R}/wo\0rk` }, /work: .* contains a NUL byte/],
    ['a DEL byte', { target: `${R}/mer\x7fged` }, /target: .* contains a control character/],
    ['a colon inside one lower', { lowers: [`${R}/l1:${R}/l2`] }, /lowers\[0\]: .* contains ':', which separates lowerdir layers/],
    ['a lone colon as a lower', { lowers: [':', p('l2')] }, /lowers\[0\]: .* contains ':'/],
    ['a leading colon', { lowers: [`:${R}/l1`, p('l2')] }, /lowers\[0\]: .* contains ':'/],
    ['a unicode space', { upper: `${R}/up\u00a0x` }, /upper: .* contains white space/],
    // layer counts and combinations
    ['no lowers', { lowers: [] }, /lowers: no lower directories/],
    ['one lower and no upper', { lowers: [p('l1')], upper: undefined, work: undefined }, /one lower and no upper is not an overlay/],
    ['upper without work', { work: undefined }, /work: upper and work go together/],
    ['work without upper', { upper: undefined }, /upper: upper and work go together/],
    ['501 lowers', { lowers: Array.from({ length: 501 }, (_, i) => p('many', String(i))) }, /501 lower directories; the kernel stacks at most 500/],
    ['the same lower twice', { lowers: [p('l1'), p('l1')] }, /lowers\[1\]: .* is also lowers\[0\]/],
    // option injection and conflicts through the typed choices
    ['an option smuggled in index', { choices: { index: 'off,lowerdir=/etc' as never } }, /choices.index: "off,lowerdir=\/etc" is not a value/],
    ['an option smuggled in xino', { choices: { xino: 'on,upperdir=/' as never } }, /choices.xino: .* is not a value/],
    ['an option smuggled in redirect_dir', { choices: { redirectDir: 'on\nx' as never } }, /choices.redirectDir: .* is not a value/],
    ['metacopy with redirect_dir=off', { choices: { metacopy: 'on', redirectDir: 'off' } }, /metacopy=on needs redirect_dir=on/],
    ['metacopy with userxattr', { choices: { metacopy: 'on', userxattr: true } }, /metacopy=on conflicts with userxattr/],
    ['userxattr with redirect_dir=follow', { choices: { userxattr: true, redirectDir: 'follow' } }, /userxattr allows only redirect_dir=nofollow or off/],
    ['nfs_export with index=off', { choices: { nfsExport: 'on', index: 'off' } }, /nfs_export=on needs index=on/],
    ['nfs_export with metacopy', { choices: { nfsExport: 'on', metacopy: 'on', redirectDir: 'on' } }, /nfs_export=on conflicts with metacopy=on/],
    ['volatile without an upper', { upper: undefined, work: undefined, choices: { volatile: true } }, /volatile needs an upper directory/],
    ['kernel options for fuse', { backend: 'fuse', choices: { index: 'off' } }, /fuse-overlayfs takes no kernel overlay options/],
    ['an upper for backend memory', { backend: 'memory' }, /backend memory makes its own upper and work/],
    ['an unknown backend', { backend: 'ramdisk' as never }, /backend: must be one of kernel, fuse, memory, auto/],
    ['an owner with a slash', { owner: '../other' }, /owner: "..\/other" is not a container id/],
    ['an empty owner', { owner: '' }, /owner: "" is not a container id/],
    ['an owner of 200 characters', { owner: 'o'.repeat(200) }, /owner: .* is not a container id: 1-128/],
    ['a 1000-byte memory tmpfs', { backend: 'memory', upper: undefined, work: undefined, memoryBytes: 1000 }, /memoryBytes: must be a whole number of bytes, at least 1 MiB/],
    ['a relative owner-alive path', { ownerAlivePath: 'run/x' }, /ownerAlivePath: "run\/x" is relative/],
    // paths that do not exist or are not directories
    ['a missing lower', { lowers: [p('l1'), p('nope')] }, /lowers\[1\]: .*nope" does not exist/],
    ['a missing upper', { upper: p('no-upper') }, /upper: .* does not exist/],
    ['a missing target', { target: p('no-target') }, /target: .* does not exist/],
    ['a file as a lower', { lowers: [p('file'), p('l2')] }, /lowers\[0\]: .* is not a directory/],
    ['a file as the target', { target: p('file') }, /target: .* is not a directory/],
    // leaving the allowed roots
    ['a lower outside the roots', { lowers: [outside, p('l2')] }, /lowers\[0\]: .* is outside the allowed roots/],
    ['/etc as a lower', { lowers: ['/etc', p('l2')] }, /lowers\[0\]: "\/etc" is outside the allowed roots/],
    ['a symlink to /etc as a lower', { lowers: [p('link-out'), p('l2')] }, /lowers\[0\]: .*link-out" \(it resolves to "\/etc"\) is outside/],
    ['a symlink to /etc as the upper', { upper: p('link-out') }, /upper: .* \(it resolves to "\/etc"\) is outside/],
    ['a symlinked parent leaving the roots', { lowers: [p('link-dir', 'dir'), p('l2')] }, /lowers\[0\]: .* \(it resolves to .*outside\/dir"\) is outside/],
    // resolved paths: checked again for the characters a requested path may not hold
    ['a lower whose symlink target holds a colon', { lowers: [p('link-colon'), p('l2')] }, /lowers\[0\]: .*link-colon" resolves to .*a:etc", which contains ':', which separates lowerdir layers/],
    ['a lower below a symlinked parent with a colon', { lowers: [p('link-colon-parent', 'inner'), p('l2')] }, /lowers\[0\]: .* resolves to .*a:etc\/inner", which contains ':'/],
    ['an upper whose symlink target holds a comma and =', { upper: p('link-comma') }, /upper: .*link-comma" resolves to .*u,upperdir=x", which contains ',' \(it separates mount options\) and contains '='/],
    ['a work whose symlink target holds a space', { work: p('link-space') }, /work: .*link-space" resolves to .*sp ace", which contains white space/],
    ['a target whose symlink target holds a newline', { target: p('link-newline') }, /target: .*link-newline" resolves to .*nl\\nx", which contains a control character/],
    ['a symlink loop as a lower', { lowers: [p('loop-a'), p('l2')] }, /lowers\[0\]: .*loop-a" cannot be resolved \(ELOOP: too many symbolic links\)/],
    ['a name longer than NAME_MAX', { target: p('merged', 'x'.repeat(300)) }, /target: .* cannot be resolved \(ENAMETOOLONG: a name or the whole path is too long\)/],
    ['the target outside the roots', { target: outside }, /target: .* is outside the allowed roots/],
    ['/ as the target', { target: '/' }, /target: "\/" is outside the allowed roots/],
    ['/proc as a lower', { lowers: ['/proc', p('l2')] }, /lowers\[0\]: "\/proc" is outside/],
    // overlap
    ['upper equal to a lower', { upper: p('l1') }, /upper: .* is the same directory as lowers\[0\]/],
    ['a lower reached through a symlink twice', { lowers: [p('l1'), p('link-in')] }, /lowers\[1\]: .* is the same directory as lowers\[0\]/],
    ['work inside upper', { upper: p('rosrc'), work: p('rosrc', 'up') }, /work: .* overlaps .* upper/],
    ['upper inside work', { upper: p('nest', 'up'), work: p('nest') }, /work: .* overlaps \(is inside or contains\) upper/],
    ['a lower inside the upper', { lowers: [p('up2', 'l'), p('l2')], upper: p('up2') }, /upper: .* overlaps \(is inside or contains\) lowers\[0\]/],
    ['the target inside a lower', { target: p('l1') }, /target: .* is the same directory as lowers\[0\]/],
    ['the target equal to upper', { target: p('up') }, /target: .* is the same directory as upper/],
    // work and upper placement
    ['work on another mount', { work: p('tmpfs', 'work') }, /work: workdir must be on the same mount as upperdir: .* is on .*tmpfs, upper on .*overlayfs: workdir and upperdir must reside under the same mount/],
    ['a non-empty work', { work: p('work-full') }, /work: work .* is not empty; give an empty directory/],
    ['work left by a volatile mount', { work: p('work-volatile') }, /work\/incompat is left by a volatile mount/],
    ['an upper on a read-only mount', { upper: p('ro', 'up'), work: p('ro') }, /upper: .* is on a read-only mount/],
    ['an upper used by a live overlay', { upper: p('live', 'upper'), work: p('work') }, /upper: .* is already the upperdir of the overlay at .*live\/merged/],
    ['a work used by a live overlay', { work: p('live', 'work'), upper: p('up') }, /work: .* is already the workdir of the overlay at/],
    ['an upper on an overlay', { upper: p('live', 'merged', 'on-overlay'), work: p('work') }, /upper: .* is on overlay, which cannot hold an overlay upper/],
    ['a target that is already a mount point', { target: p('live', 'merged') }, /target: .* is already a mount point/],
    // user namespaces the kernel would refuse, sent over the wire (protobuf keeps them uint32)
    ['overlapping host ranges', { idMapping: { uid: [{ containerId: 0, hostId: 100000, size: 65536 }, { containerId: 70000, hostId: 165000, size: 10 }], gid: [{ containerId: 0, hostId: 100000, size: 65536 }] } }, /idMapping\.uid: ranges overlap in host ids at 165000/],
    ['a uid map without a gid map', { idMapping: { uid: [{ containerId: 0, hostId: 100000, size: 65536 }], gid: [] } }, /idMapping\.gid: must list at least one range/],
    ['a range of size 0', { idMapping: { uid: [{ containerId: 0, hostId: 100000, size: 0 }], gid: [{ containerId: 0, hostId: 100000, size: 1 }] } }, /idMapping\.uid\[0\]: .*size at least 1/],
    ['a range past the last id', { idMapping: { uid: [{ containerId: 0, hostId: 4294967000, size: 1000 }], gid: [{ containerId: 0, hostId: 1, size: 1 }] } }, /reaches past id 4294967294/],
  ];
  t.true(cases.length >= 60, `${cases.length} cases`);
  t.is(new Set(cases.map(([name]) => name)).size, cases.length, 'case names are unique');

  const before = mountsUnder(base);
  for (const [name, change, expected] of cases) {
    const request = { ...valid, ...change };
    const error = await helper.client.mount(request).then(
      () => undefined,
      (e: Error) => e,
    );
    if (error === undefined) {
      t.fail(`${name}: was mounted`);
      continue;
    }
    t.regex(error.message, expected, name);
    t.deepEqual(mountsUnder(base), before, `${name}: the mount table below the test directory is unchanged`);
  }
  const journal = await helper.client.list();
  t.deepEqual(journal.map((m) => m.id), [live.id], 'only the valid mount made for the test is in the journal');
  const helperMounts = readMountInfo().filter((m) => m.source.startsWith('tsov-m') && isPathWithin(m.mountPoint, base));
  t.true(helperMounts.every((m) => isPathWithin(m.mountPoint, R)), 'every helper mount is inside the allowed root');
  t.is(helperMounts.length, 1);
});
