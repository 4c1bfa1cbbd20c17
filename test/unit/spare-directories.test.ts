import test from 'ava';
import winston from 'winston';
import { Writable } from 'node:stream';
import { SpareDirectories } from '../../snapshotter/spare-directories';

/** A pool over fake directories: ids from a counter, made and discarded in memory, with gates to hold a batch mid-way. */
function pool(options: { target?: number; maxTarget?: number; failWhen?: (ids: number[]) => boolean } = {}) {
  let next = 1;
  const onDisk = new Set<number>();
  const batches: number[][] = [];
  const discarded: number[][] = [];
  const warnings: string[] = [];
  let hold: Promise<void> | undefined;
  const logger = winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk: Buffer, _e, done) => (warnings.push(chunk.toString()), done()) }) })],
  });
  const spares = new SpareDirectories({
    target: options.target ?? 4,
    ...(options.maxTarget === undefined ? {} : { maxTarget: options.maxTarget }),
    reserve: () => next++,
    make: async (ids) => {
      batches.push(ids);
      ids.forEach((id) => onDisk.add(id));
      await hold;
      if (options.failWhen?.(ids) === true) throw new Error('ENOSPC: no space left on device');
    },
    discard: async (ids) => {
      discarded.push(ids);
      ids.forEach((id) => onDisk.delete(id));
    },
    logger,
  });
  return {
    spares,
    onDisk,
    batches,
    discarded,
    warnings,
    holdNext: () => {
      let release!: () => void;
      hold = new Promise((resolve) => (release = resolve));
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

/** What a Prepare does: take a spare, then call for the refill. */
function takeOne(spares: SpareDirectories): number | undefined {
  const spare = spares.take();
  spares.refillSoon();
  return spare;
}

/** The event loop's current turn is over (what take() waits for before it refills). */
const turnOver = () => new Promise((resolve) => setImmediate(resolve));

test('refillSoon starts one batch for every spare taken so far, after the caller\'s turn of the event loop (a Prepare calls it once its record is durable)', async (t) => {
  const { spares, batches } = pool({ target: 4 });
  await spares.start();
  t.is(spares.take(), 1);
  t.is(spares.take(), 2);
  t.is(spares.take(), 3);
  await spares.settled();
  t.deepEqual(batches, [[1, 2, 3, 4]], 'take() alone makes none');
  spares.refillSoon();
  spares.refillSoon();
  t.deepEqual(batches, [[1, 2, 3, 4]], 'nothing started in the caller\'s turn');
  await turnOver();
  t.deepEqual(batches, [[1, 2, 3, 4], [5, 6, 7]], 'then one batch for the three taken');
  await spares.settled();
});

test('start fills the pool under fresh ids; take gives the oldest; the taken ones are made again once half are gone, in one batch', async (t) => {
  const { spares, batches } = pool({ target: 4 });
  await spares.start();
  t.deepEqual(batches, [[1, 2, 3, 4]]);
  t.is(takeOne(spares), 1);
  await spares.settled();
  t.deepEqual(batches, [[1, 2, 3, 4]], 'one of four taken: not yet');
  t.is(takeOne(spares), 2);
  await spares.settled();
  t.deepEqual(batches, [[1, 2, 3, 4], [5, 6]], 'half taken: refilled to the target in one batch');
  t.is(spares.count, 4);
  t.deepEqual([takeOne(spares), takeOne(spares), takeOne(spares), takeOne(spares)], [3, 4, 5, 6]);
});

test('has() covers the ready spares and a batch being made, never a taken one: what Cleanup must leave alone', async (t) => {
  const { spares, holdNext } = pool({ target: 4 });
  await spares.start();
  t.true(['1', '2', '3', '4'].every((name) => spares.has(name)));
  t.false(spares.has('5'));
  const release = holdNext();
  takeOne(spares);
  takeOne(spares);
  await turnOver();
  t.false(spares.has('1'), 'taken: the snapshot that took it answers for it');
  t.true(spares.has('5') && spares.has('6'), 'being made: its directories may exist already');
  t.false(spares.has('7') || spares.has('new-5') || spares.has(''), 'ids not given, names that are no id');
  release();
  await spares.settled();
  t.true(spares.has('6'));
});

test('a batch that fails is discarded whole and said once; take() still answers (undefined: Prepare makes its own) and retries', async (t) => {
  let failing = true;
  const { spares, discarded, warnings, onDisk } = pool({ target: 2, failWhen: () => failing });
  await spares.start();
  t.deepEqual(discarded, [[1, 2]]);
  t.is(onDisk.size, 0, 'nothing half made is left');
  t.is(takeOne(spares), undefined);
  await spares.settled();
  t.is(takeOne(spares), undefined);
  await spares.settled();
  t.is(warnings.length, 1, warnings.join(''));
  t.regex(warnings[0]!, /could not make a spare snapshot directory/);
  t.regex(warnings[0]!, /ENOSPC/);
  failing = false;
  t.is(takeOne(spares), undefined);
  await spares.settled();
  t.is(takeOne(spares), 7, 'ids of failed batches are never given again');
});

test('close deletes the spares left, waits for a batch in flight (and deletes it too), and makes no more', async (t) => {
  const { spares, discarded, onDisk, holdNext, batches } = pool({ target: 4 });
  await spares.start();
  const release = holdNext();
  takeOne(spares);
  takeOne(spares);
  takeOne(spares);
  await turnOver();
  const closed = spares.close();
  release();
  await closed;
  t.deepEqual(discarded, [[4, 5, 6, 7]], 'the one ready and the batch that was being made (for the three taken)');
  t.is(onDisk.size, 3, 'only the three taken (their snapshots own them)');
  t.is(takeOne(spares), undefined);
  await spares.settled();
  t.is(batches.length, 2, 'no refill after close');
});

test('a Prepare that finds none ready doubles the target, up to maxTarget: the refill then makes the bigger batch; one that always finds one leaves it', async (t) => {
  const { spares, batches } = pool({ target: 4, maxTarget: 16 });
  await spares.start();
  // One at a time, as an unpack takes them: never empty, never grown.
  for (let i = 0; i < 12; i++) {
    t.not(takeOne(spares), undefined);
    await spares.settled();
  }
  t.is(spares.target, 4, 'an unpack\'s pace keeps the first target');
  // Concurrent Prepares take them all before a batch is made.
  const emptyIt = () => {
    const taken: (number | undefined)[] = [];
    for (let i = spares.count; i >= 0; i--) taken.push(spares.take());
    return taken;
  };
  t.is(emptyIt().at(-1), undefined);
  t.is(spares.target, 8, 'found none ready: doubled');
  spares.refillSoon();
  await spares.settled();
  t.is(batches.at(-1)!.length, 8, 'refilled to the new target in one batch');
  t.is(spares.count, 8);
  emptyIt();
  t.is(spares.target, 16);
  emptyIt();
  t.is(spares.target, 16, 'never past maxTarget');
  spares.refillSoon();
  await spares.settled();
  t.is(spares.count, 16);
});

test('without maxTarget the pool never grows, however often Prepares find it empty', async (t) => {
  const { spares } = pool({ target: 4 });
  await spares.start();
  for (let round = 0; round < 3; round++) {
    while (spares.take() !== undefined);
    t.is(spares.target, 4);
    spares.refillSoon();
    await spares.settled();
    t.is(spares.count, 4);
  }
});

test('a pool emptied because its refills fail (a full disk) does not grow: the failure, not demand, emptied it', async (t) => {
  let failing = false;
  const { spares } = pool({ target: 4, maxTarget: 64, failWhen: () => failing });
  await spares.start();
  failing = true;
  for (let i = 0; i < 12; i++) {
    takeOne(spares);
    await spares.settled();
  }
  t.is(spares.target, 4);
  failing = false;
  t.is(takeOne(spares), undefined, 'the first after the disk frees finds none ready yet (a refill was failing): still no growth');
  await spares.settled();
  t.is(spares.target, 4);
  t.is(spares.count, 4, 'refilled to the first target');
});
