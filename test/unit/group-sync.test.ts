import test from 'ava';
import { GroupSync, oldestSyncMs } from '../../common/group-sync';

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

/** A group whose syncs the test finishes by hand, reporting stalls past limitMs into events. */
function stallingSync(limitMs: number) {
  const events: string[] = [];
  const pending: Array<() => void> = [];
  const group = new GroupSync(() => new Promise<void>((resolve) => pending.push(resolve)), {
    limitMs,
    onStall: (waitedMs) => events.push(`stalled ${waitedMs >= limitMs ? 'past' : 'before'} the limit`),
    onRecover: (tookMs) => events.push(`recovered after ${tookMs >= limitMs ? 'the limit' : 'less'}`),
  });
  return { group, pending, events };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a sync running past the stall limit is reported once, and its end once; runningSinceMs says since when', async (t) => {
  const { group, pending, events } = stallingSync(40);
  t.is(group.runningSinceMs, undefined, 'nothing runs');
  const before = performance.now();
  const waiting = group.wait();
  t.true(group.runningSinceMs! >= before);
  await sleep(20);
  t.deepEqual(events, [], 'not yet past the limit');
  await sleep(1300);
  t.deepEqual(events, ['stalled past the limit'], 'said once, though it was looked at again');
  pending[0]!();
  await waiting;
  t.deepEqual(events, ['stalled past the limit', 'recovered after the limit']);
  t.is(group.runningSinceMs, undefined);
});

test('syncs within the limit say nothing; a later one that stalls is said again', async (t) => {
  const { group, pending, events } = stallingSync(60);
  for (let i = 0; i < 3; i++) {
    const waiting = group.wait();
    await sleep(10);
    pending[i]!();
    await waiting;
  }
  await sleep(80);
  t.deepEqual(events, [], 'three quick syncs, and the timer found none running');
  const first = group.wait();
  await sleep(100);
  pending[3]!();
  await first;
  const second = group.wait();
  await sleep(100);
  pending[4]!();
  await second;
  t.deepEqual(events, ['stalled past the limit', 'recovered after the limit', 'stalled past the limit', 'recovered after the limit']);
});

test('oldestSyncMs: how long the oldest running sync has run, 0 when none runs', (t) => {
  const table: Array<[Array<number | undefined>, number]> = [
    [[undefined, undefined], 0],
    [[], 0],
    [[990, undefined], 10],
    [[undefined, 900], 100],
    [[980, 900], 100],
  ];
  for (const [since, expected] of table) t.is(oldestSyncMs(since, 1000), expected, JSON.stringify(since));
});
