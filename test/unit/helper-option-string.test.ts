import test from 'ava';
import { choiceArguments } from '../../helper/host/mount-commands';
import { choiceWords as choiceOptions, OVERLAY_OPTIONS, optionOfQuirk, PROBE_CHECK_NAMES } from '../../helper/api/overlay-options';
import { MOUNT_CHECKS } from '../../helper/probe/mount-check-plan';
import { QUIRKS } from '../../policy/policy-vocabulary';

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

test('the option table serves every policy quirk, and the probe plan runs exactly the checks it names', (t) => {
  for (const quirk of QUIRKS) t.is(optionOfQuirk(quirk).quirk!.name, quirk);
  t.deepEqual(MOUNT_CHECKS.map((plan) => plan.name), [...PROBE_CHECK_NAMES]);
  for (const option of OVERLAY_OPTIONS) {
    for (const check of [option.probe?.force, option.probe?.forbid]) if (check !== undefined) t.true(PROBE_CHECK_NAMES.includes(check), `${option.word}: ${check}`);
  }
});
