import test from 'ava';
import winston from 'winston';
import { Writable } from 'node:stream';
import { DeferredRemovals } from '../../snapshotter/deferred-removals';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function removals(options: { quietMs?: number; maxPending?: number; fail?: Set<string> } = {}) {
  const removed: string[] = [];
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  const queue = new DeferredRemovals({
    remove: async (name) => {
      await sleep(1);
      if (options.fail?.has(name)) throw new Error(`EIO removing ${name}`);
      removed.push(name);
    },
    logger,
    quietMs: options.quietMs ?? 40,
    maxPending: options.maxPending,
  });
  return { queue, removed, lines };
}

test('a removed directory waits for quiet, then goes; has() covers it until it is gone', async (t) => {
  const { queue, removed } = removals();
  queue.add('1');
  queue.add('2');
  t.deepEqual(removed, []);
  t.true(queue.has('1'));
  await sleep(120);
  t.deepEqual(removed, ['1', '2']);
  t.false(queue.has('1'));
  t.is(queue.waiting, 0);
});

test('calls that keep coming postpone the deletion; it runs once they stop', async (t) => {
  const { queue, removed } = removals({ quietMs: 40 });
  queue.add('1');
  for (let i = 0; i < 10; i++) {
    await sleep(10);
    queue.busy();
  }
  t.deepEqual(removed, [], '100 ms of calls 10 ms apart: never 40 ms quiet');
  await sleep(120);
  t.deepEqual(removed, ['1']);
});

test('more than maxPending waiting are deleted at once, busy or not', async (t) => {
  const { queue, removed } = removals({ quietMs: 10_000, maxPending: 3 });
  for (const name of ['1', '2', '3']) queue.add(name);
  await sleep(20);
  t.deepEqual(removed, [], 'at the bound: still waiting');
  queue.add('4');
  await sleep(40);
  t.deepEqual(removed, ['1', '2', '3', '4']);
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
  t.regex(lines.join(''), /"directory":"2","error":"Error: EIO removing 2".*"message":"snapshot directory left for Cleanup"/);
});
