import test, { type ExecutionContext } from 'ava';
import winston from 'winston';
import { Writable } from 'node:stream';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { makeTempDir } from '../support/temp-dir';
import { waitFor } from '../../harness/wait';
import { DeferredRemovals, REMOVAL_BATCH } from '../../snapshotter/deferred-removals';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 5 s: a loaded machine runs timers late) until as many as expected are deleted, then checks which. */
async function deleted(t: ExecutionContext, removed: string[], expected: string[], message?: string): Promise<void> {
  await waitFor(`${expected.length} deleted (${message ?? expected.join(', ')})`, () => removed.length >= expected.length, 5_000, 5);
  t.deepEqual(removed, expected, message);
}

function removals(options: { quietMs?: number; maxPending?: number; fail?: Set<string>; reject?: Set<string>; mounted?: Map<string, string>; heldRetryMs?: number; now?: () => number } = {}) {
  const removed: string[] = [];
  /** Every name each batch was asked to delete. */
  const attempts: string[] = [];
  const batches: number[] = [];
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  const queue = new DeferredRemovals({
    // Like the worker's job: one round trip per batch, each directory deleted or reported.
    remove: async (names) => {
      batches.push(names.length);
      attempts.push(...names);
      await sleep(1);
      if (names.some((name) => options.reject?.has(name))) throw new Error('the filesystem worker thread exited (code 1)');
      const mountPoint = (name: string) => options.mounted?.get(name);
      removed.push(...names.filter((name) => !options.fail?.has(name) && mountPoint(name) === undefined));
      return names.flatMap((name) => {
        if (mountPoint(name) !== undefined) return [{ name, message: `still used by an overlay at ${mountPoint(name)}`, mountPoint: mountPoint(name), directory: `/root/snapshots/${name}` }];
        return options.fail?.has(name) ? [{ name, message: `EIO removing ${name}` }] : [];
      });
    },
    logger,
    quietMs: options.quietMs ?? 40,
    maxPending: options.maxPending,
    heldRetryMs: options.heldRetryMs,
    now: options.now,
  });
  return { queue, removed, attempts, lines, batches };
}

test('a removed directory waits for quiet, then goes; has() covers it until it is gone', async (t) => {
  const { queue, removed } = removals();
  queue.add('1');
  queue.add('2');
  t.deepEqual(removed, []);
  t.true(queue.has('1'));
  await deleted(t, removed, ['1', '2']);
  t.false(queue.has('1'));
  t.is(queue.waiting, 0);
});

test('calls that keep coming postpone the deletion; it runs once they stop', async (t) => {
  // The quiet time is read from this clock (the timers are real): a loaded machine running
  // the loop late cannot make a gap between calls that the test did not make.
  let clock = 0;
  const { queue, removed } = removals({ quietMs: 40, now: () => clock });
  queue.add('1');
  for (let i = 0; i < 10; i++) {
    await sleep(10);
    clock += 10;
    queue.busy();
  }
  await sleep(60);
  t.deepEqual(removed, [], '100 ms of calls 10 ms apart: never 40 ms quiet');
  clock += 40;
  await deleted(t, removed, ['1']);
});

test('a call running longer than the quiet time postpones the deletion until quiet after it ends', async (t) => {
  const { queue, removed } = removals({ quietMs: 40 });
  queue.add('1');
  let finish!: () => void;
  const call = queue.during(() => new Promise<string>((resolve) => (finish = () => resolve('reply'))));
  await sleep(150);
  t.deepEqual(removed, [], 'a Prepare waiting 150 ms on the disk: not quiet');
  finish();
  t.is(await call, 'reply');
  await sleep(20);
  t.deepEqual(removed, [], 'quiet counts from the call\'s end');
  await waitFor('the deletion once quiet', () => removed.length > 0, 5_000, 5);
  t.deepEqual(removed, ['1']);
});

test('a call that fails ends like one that succeeds: the deletion still runs once quiet', async (t) => {
  const { queue, removed } = removals({ quietMs: 40 });
  queue.add('1');
  await t.throwsAsync(queue.during(async () => {
    await sleep(60);
    throw new Error('ALREADY_EXISTS');
  }), { message: 'ALREADY_EXISTS' });
  t.deepEqual(removed, []);
  await waitFor('the deletion once quiet', () => removed.length > 0, 5_000, 5);
  t.deepEqual(removed, ['1']);
});

test('a call that arrived while the main thread was held up past the quiet time is read before any deletion starts', async (t) => {
  // The kernel throttles a write when dirty pages pile up (another process writing a
  // lot): the snapshotter's main thread then runs its timers late, before it reads the
  // calls waiting on its sockets (libuv's timers phase comes before its poll phase).
  const { queue, removed } = removals({ quietMs: 40 });
  const socket = path.join(makeTempDir(t, 'removals-late'), 'calls.sock');
  let call: Promise<unknown> | undefined;
  const server = net.createServer((connection) => {
    connection.on('data', () => {
      call = queue.during(() => sleep(80));
    });
  });
  server.listen(socket);
  await once(server, 'listening');
  const client = net.connect(socket);
  await once(client, 'connect');
  t.teardown(() => {
    client.destroy();
    server.close();
  });
  await sleep(20);
  queue.add('1');
  await sleep(10);
  client.write('Prepare');
  const heldUntil = performance.now() + 100;
  while (performance.now() < heldUntil) {
    // held up, the call waiting in the socket
  }
  await sleep(20);
  t.not(call, undefined, 'the call was read');
  t.deepEqual(removed, [], 'no deletion started before the call was read');
  await call;
  t.deepEqual(removed, [], 'nor while it ran');
  await waitFor('the deletion once quiet', () => removed.length > 0, 5_000, 5);
  t.deepEqual(removed, ['1']);
});

test('more than maxPending waiting are deleted at once, busy or not', async (t) => {
  const { queue, removed } = removals({ quietMs: 10_000, maxPending: 3 });
  for (const name of ['1', '2', '3']) queue.add(name);
  await sleep(20);
  t.deepEqual(removed, [], 'at the bound: still waiting');
  queue.add('4');
  await deleted(t, removed, ['1', '2', '3', '4']);
  queue.close();
});

test('flush deletes everything now and resolves when it is gone, including what was added meanwhile', async (t) => {
  const { queue, removed } = removals({ quietMs: 10_000 });
  queue.add('1');
  const flushed = queue.flush();
  queue.add('2');
  t.true(queue.has('1'));
  await flushed;
  t.deepEqual(removed, ['1']);
  await queue.flush();
  t.deepEqual(removed, ['1', '2']);
  queue.close();
});

test('a failed deletion is logged as left for Cleanup and does not stop the others', async (t) => {
  const { queue, removed, lines } = removals({ fail: new Set(['2']) });
  for (const name of ['1', '2', '3']) queue.add(name);
  await queue.flush();
  t.deepEqual(removed, ['1', '3']);
  t.false(queue.has('2'), 'no longer tracked: Cleanup may delete it');
  t.regex(lines.join(''), /"directory":"2","error":"EIO removing 2".*"message":"snapshot directory left for Cleanup"/);
});

test('deletions go in batches of REMOVAL_BATCH, one call each, whatever the backlog', async (t) => {
  const { queue, removed, batches } = removals({ quietMs: 10_000 });
  const names = Array.from({ length: 3 * REMOVAL_BATCH + 5 }, (_, i) => String(i));
  for (const name of names) queue.add(name);
  t.is(queue.notYetDeleted, names.length);
  await queue.flush();
  t.deepEqual(batches, [REMOVAL_BATCH, REMOVAL_BATCH, REMOVAL_BATCH, 5]);
  t.deepEqual(removed, names);
  t.is(queue.notYetDeleted, 0);
  queue.close();
});

test('removals added faster than one call per directory could go keep up: the backlog stays bounded', async (t) => {
  // 16 names every millisecond (or more: timers are late) against a deletion call of >= 1 ms: one
  // directory per call would fall behind by 15 a millisecond (~1,500 after 100 rounds); a batch of
  // REMOVAL_BATCH per call keeps the backlog near the bound.
  const maxPending = 256;
  const { queue, removed } = removals({ quietMs: 10_000, maxPending });
  let added = 0;
  let worst = 0;
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 16; i++) queue.add(String(added++));
    worst = Math.max(worst, queue.notYetDeleted);
    await sleep(1);
  }
  while (queue.notYetDeleted > 0) await queue.flush();
  t.log(`${added} added, worst backlog ${worst}`);
  t.is(removed.length, added);
  t.true(worst < maxPending * 2, `backlog reached ${worst}`);
  queue.close();
});

test('with maxBacklog waiting, add() deletes its own directory before it resolves: the backlog stops growing', async (t) => {
  // A disk that deletes nothing until the gate opens.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const removed: string[] = [];
  const queue = new DeferredRemovals({
    remove: async (names) => {
      await gate;
      removed.push(...names);
      return [];
    },
    logger: winston.createLogger({ silent: true }),
    quietMs: 10_000,
    maxPending: 4,
    maxBacklog: 8,
  });
  const settled: string[] = [];
  const add = (name: string) => queue.add(name).then(() => settled.push(name));
  const early = ['1', '2', '3', '4', '5', '6', '7', '8'].map(add);
  await Promise.all(early);
  t.is(queue.notYetDeleted, 8, 'the 5th started a deletion that cannot finish; 6-8 wait behind it');
  const late = add('9');
  await sleep(20);
  t.false(settled.includes('9'), 'over the bound: Remove waits for its own directory');
  t.is(queue.notYetDeleted, 9);
  open();
  await late;
  t.true(removed.includes('9'));
  while (queue.notYetDeleted > 0) await queue.flush();
  t.deepEqual([...removed].sort(), ['1', '2', '3', '4', '5', '6', '7', '8', '9']);
  queue.close();
});

test('a rejected batch (the worker gone) leaves each of its directories for Cleanup and the next batch still runs', async (t) => {
  const { queue, removed, lines } = removals({ quietMs: 10_000, reject: new Set(['0']) });
  const names = Array.from({ length: REMOVAL_BATCH + 1 }, (_, i) => String(i));
  for (const name of names) queue.add(name);
  await queue.flush();
  t.deepEqual(removed, [String(REMOVAL_BATCH)]);
  t.is(lines.filter((line) => line.includes('left for Cleanup')).length, REMOVAL_BATCH);
  t.is(queue.notYetDeleted, 0);
  queue.close();
});

test('lend takes waiting directories never lent before, the oldest first; nothing deletes them until given back, then they go like any other, never lent again', async (t) => {
  const { queue, removed } = removals({ quietMs: 10_000 });
  for (const name of ['1', '2', '3']) queue.add(name);
  const lent = queue.lend(2);
  t.deepEqual(lent, ['1', '2']);
  t.true(queue.has('1'), 'lent: Cleanup still leaves it alone');
  t.is(queue.notYetDeleted, 3, 'the metric counts lent directories');
  await queue.flush();
  t.deepEqual(removed, ['3'], 'a flush deletes what waits, not what is lent');
  t.deepEqual(queue.lend(5), [], '3 is gone, 1 and 2 are out');
  queue.giveBack(lent);
  t.deepEqual(queue.lend(5), [], 'given back: deleted later, never lent a second time (only what reuse left is under the name)');
  t.is(queue.waiting, 2);
  await queue.flush();
  t.deepEqual(removed, ['3', '1', '2']);
  t.false(queue.has('1'));
  queue.giveBack(['1']);
  t.is(queue.waiting, 0, 'a name not lent is not taken back');
  queue.close();
});

test('names given back wait for quiet like the others', async (t) => {
  const { queue, removed } = removals({ quietMs: 40 });
  queue.add('1');
  const lent = queue.lend(1);
  await sleep(100);
  t.deepEqual(removed, [], 'lent through the quiet time: not deleted');
  queue.giveBack(lent);
  await deleted(t, removed, ['1']);
  queue.close();
});

test('carryOver: directories a previous process left wait like removed ones and go once quiet; they can be lent to the refill', async (t) => {
  const { queue, removed } = removals({ quietMs: 40 });
  queue.carryOver(['7', '9', '12']);
  t.true(queue.has('9'));
  t.deepEqual(queue.lend(1), ['7'], 'lent like a removed snapshot\'s directory');
  await deleted(t, removed, ['9', '12']);
  queue.giveBack(['7']);
  await deleted(t, removed, ['9', '12', '7']);
  queue.close();
});

test('stopped: the deletion in flight ends after its batch, nothing else is deleted, and the rest stays on disk', async (t) => {
  const { queue, removed, batches } = removals({ quietMs: 10_000, maxPending: 1 });
  const names = Array.from({ length: 3 * REMOVAL_BATCH }, (_, i) => String(i + 1));
  queue.carryOver(names);
  // Over maxPending: deleting at once, a batch at a time.
  await queue.stopped();
  t.is(batches.length, 1, 'one batch, the one in flight');
  t.deepEqual(removed, names.slice(0, REMOVAL_BATCH));
  t.is(queue.notYetDeleted, 0, 'the rest is no longer counted as being deleted');
  queue.add('late');
  await sleep(60);
  t.is(removed.length, REMOVAL_BATCH, 'nothing starts after the stop');
  queue.close();
});

test('carriedOverGone: deletes what was carried over now and resolves once all of it is gone, a lent one after it comes back', async (t) => {
  const { queue, removed } = removals({ quietMs: 10_000 });
  queue.carryOver(['a', 'b']);
  t.deepEqual(queue.lend(1), ['a']);
  let done = false;
  const gone = queue.carriedOverGone().then(() => (done = true));
  await deleted(t, removed, ['b'], 'deleted without waiting for quiet');
  t.false(done, 'a is still lent to the refill');
  queue.giveBack(['a']);
  await gone;
  t.deepEqual(removed, ['b', 'a']);
  queue.close();
});

test('a directory a live overlay still uses is held, not deleted: said once, tried again, and deleted once nothing mounts it', async (t) => {
  const mounted = new Map([['7', '/run/containerd/io.containerd.runtime.v2.task/k8s.io/web/rootfs']]);
  const { queue, removed, attempts, lines } = removals({ mounted, heldRetryMs: 30 });
  const warnings = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.level === 'warn');
  queue.add('7');
  queue.add('8');
  await deleted(t, removed, ['8']);
  // Tried again every heldRetryMs: the warning stays one.
  await waitFor('two more tries', () => attempts.filter((name) => name === '7').length >= 3, 5_000, 5);
  t.is(warnings().length, 1);
  t.is(warnings()[0]!.directory, '/root/snapshots/7');
  t.is(warnings()[0]!.mount_point, '/run/containerd/io.containerd.runtime.v2.task/k8s.io/web/rootfs');
  t.regex(String(warnings()[0]!.message), /still mounted: its directory is kept/);
  t.true(queue.has('7'), 'Cleanup leaves it alone');
  t.is(queue.notYetDeleted, 1);
  t.deepEqual([...queue.stillMounted], [['7', '/run/containerd/io.containerd.runtime.v2.task/k8s.io/web/rootfs']]);
  mounted.delete('7');
  await deleted(t, removed, ['8', '7']);
  t.false(queue.has('7'));
  t.is(queue.notYetDeleted, 0);
  t.true(lines.some((line) => line.includes('nothing mounts it any more') && line.includes('"directory":"/root/snapshots/7"')));
  t.is(warnings().length, 1);
});

test('flush tries a held directory again at once (Cleanup), and a new mount point is said again', async (t) => {
  const mounted = new Map([['3', '/mnt/a']]);
  const { queue, removed, lines } = removals({ mounted, heldRetryMs: 60_000 });
  const warned = () => lines.filter((line) => line.includes('still mounted')).map((line) => (JSON.parse(line) as { mount_point: string }).mount_point);
  queue.add('3');
  await queue.flush();
  t.deepEqual(warned(), ['/mnt/a']);
  await queue.flush();
  t.deepEqual(warned(), ['/mnt/a'], 'the same mount point: not said again');
  mounted.set('3', '/mnt/b');
  await queue.flush();
  t.deepEqual(warned(), ['/mnt/a', '/mnt/b']);
  mounted.delete('3');
  await queue.flush();
  t.deepEqual(removed, ['3']);
  queue.close();
});

test('stopped: a held directory is not tried again; it stays on disk for the next start to carry over', async (t) => {
  const mounted = new Map([['5', '/mnt/x']]);
  const { queue, removed, batches } = removals({ mounted, heldRetryMs: 20 });
  queue.add('5');
  await queue.flush();
  const before = batches.length;
  await queue.stopped();
  mounted.delete('5');
  await sleep(100);
  t.is(batches.length, before);
  t.deepEqual(removed, []);
});
