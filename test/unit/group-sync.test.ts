import test from 'ava';
import { GroupSync } from '../../snapshotter/group-sync';

/** A sync whose runs the test finishes by hand. */
function manualSync() {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const group = new GroupSync(
    () =>
      new Promise<void>((resolve, reject) => {
        pending.push({ resolve, reject });
      }),
  );
  return { group, pending };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a wait with no sync running starts one and resolves with it', async (t) => {
  const { group, pending } = manualSync();
  let done = false;
  const waiting = group.wait().then(() => (done = true));
  t.is(pending.length, 1);
  pending[0]!.resolve();
  await waiting;
  t.true(done);
  t.is(group.syncs, 1);
});

test('waits made while a sync runs share the next sync, not the running one', async (t) => {
  const { group, pending } = manualSync();
  const first = group.wait();
  let laterDone = 0;
  const later = Array.from({ length: 10 }, () => group.wait().then(() => laterDone++));
  t.is(pending.length, 1, 'no second sync starts while the first runs');
  pending[0]!.resolve();
  await first;
  await tick();
  t.is(laterDone, 0, 'the running sync may predate their writes');
  t.is(pending.length, 2, 'one shared sync for all ten');
  pending[1]!.resolve();
  await Promise.all(later);
  t.is(laterDone, 10);
  t.is(group.syncs, 2);
});

test('a failed sync rejects its waiters and the next wait starts a fresh sync', async (t) => {
  const { group, pending } = manualSync();
  const failing = group.wait();
  pending[0]!.reject(new Error('EIO'));
  await t.throwsAsync(failing, { message: 'EIO' });
  const next = group.wait();
  t.is(pending.length, 2);
  pending[1]!.resolve();
  await t.notThrowsAsync(next);
});
