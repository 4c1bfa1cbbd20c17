import test from 'ava';
import { choiceArguments } from '../../helper/host/mount-commands';
import { choiceOptions } from '../../helper/request/overlay-option-string';

test('choiceOptions turns typed choices into fixed option words', (t) => {
  t.deepEqual(choiceOptions({}), []);
  t.deepEqual(choiceOptions({ userxattr: false, volatile: false }), []);
  t.deepEqual(
    choiceOptions({ volatile: true, xino: 'auto', metacopy: 'off', redirectDir: 'nofollow', index: 'off', userxattr: true, nfsExport: 'off' }),
    ['userxattr', 'index=off', 'redirect_dir=nofollow', 'metacopy=off', 'xino=auto', 'nfs_export=off', 'volatile'],
  );
});

test('tsov-mount gets the same words: valued ones with --set, bare ones with --flag', (t) => {
  t.deepEqual(choiceArguments({}), []);
  t.deepEqual(choiceArguments({ userxattr: true, index: 'off', volatile: true }), ['--flag', 'userxattr', '--set', 'index=off', '--flag', 'volatile']);
});
