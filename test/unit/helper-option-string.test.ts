import test from 'ava';
import { choiceOptions, MOUNT_DATA_LIMIT, OptionDataTooLongError, planOverlayOptions } from '../../translator/helper/request/overlay-option-string';

test('choiceOptions turns typed choices into fixed option words', (t) => {
  t.deepEqual(choiceOptions({}), []);
  t.deepEqual(choiceOptions({ userxattr: false, volatile: false }), []);
  t.deepEqual(
    choiceOptions({ volatile: true, xino: 'auto', metacopy: 'off', redirectDir: 'nofollow', index: 'off', userxattr: true, nfsExport: 'off' }),
    ['userxattr', 'index=off', 'redirect_dir=nofollow', 'metacopy=off', 'xino=auto', 'nfs_export=off', 'volatile'],
  );
});

test('short layer lists stay absolute', (t) => {
  t.deepEqual(planOverlayOptions({ lowers: ['/l/2', '/l/1'], upper: '/u', work: '/w' }, { index: 'off' }), {
    data: 'index=off,workdir=/w,upperdir=/u,lowerdir=/l/2:/l/1',
  });
});

test('500 long lowers become relative to their common parent and fit one page', (t) => {
  const parent = '/var/lib/tsov/a-rather-long-directory-name/layers';
  const lowers = Array.from({ length: 500 }, (_, i) => `${parent}/${500 - i}`);
  const plan = planOverlayOptions({ lowers, upper: '/var/lib/tsov/u', work: '/var/lib/tsov/w' }, {});
  t.is(plan.workingDirectory, parent);
  t.true(plan.data.length < MOUNT_DATA_LIMIT);
  t.true(plan.data.endsWith(`lowerdir=${lowers.map((l) => l.slice(parent.length + 1)).join(':')}`));
});

test('layers under different parents share the nearest common ancestor', (t) => {
  const lowers = Array.from({ length: 100 }, (_, i) => `/srv/images/${i % 2 === 0 ? 'even' : 'odd'}/layer-with-a-long-name-${i}`);
  const plan = planOverlayOptions({ lowers }, {});
  t.is(plan.workingDirectory, '/srv/images');
  t.regex(plan.data, /^lowerdir=even\/layer-with-a-long-name-0:odd\/layer-with-a-long-name-1:/);
});

test('option data that cannot fit even relative is refused with the sizes', (t) => {
  const lowers = Array.from({ length: 500 }, (_, i) => `/${'x'.repeat(20)}${i}`);
  t.throws(() => planOverlayOptions({ lowers }, {}), { instanceOf: OptionDataTooLongError, message: /bytes even with lowers relative to \/; mount\(2\) carries at most 4095/ });
});
