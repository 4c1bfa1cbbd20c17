/** The usage cache's decisions, with a scripted walk and scripted watches (the real overlay: test/integration/usage-cache.test.ts). */
import { EventEmitter } from 'node:events';
import type fs from 'node:fs';
import test from 'ava';
import type { MeasuredTree } from '../../snapshotter/disk-usage';
import { MAX_WATCHED_DIRECTORIES, UsageCache } from '../../snapshotter/usage-cache';

function harness(options: { directories?: () => string[] | undefined; refuse?: (dir: string) => boolean; maxAgeMs?: number } = {}) {
  let walks = 0;
  let clock = 0;
  let size = 100;
  const watchers = new Map<string, () => void>();
  const closed: string[] = [];
  let duringWalk: (() => void) | undefined;
  const cache = new UsageCache({
    maxAgeMs: options.maxAgeMs,
    now: () => clock,
    measure: async (_dir, limit): Promise<MeasuredTree> => {
      walks++;
      t0.limit = limit;
      duringWalk?.();
      duringWalk = undefined;
      const directories = options.directories ? options.directories() : ['/s/fs', '/s/fs/a'];
      const rootOwner = { uid: 0, gid: 0 };
      return directories === undefined ? { size, inodes: 3, rootOwner } : { size, inodes: 3, rootOwner, directories };
    },
    watch: (dir, onChange) => {
      if (options.refuse?.(dir)) throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
      watchers.set(dir, onChange);
      const watcher = new EventEmitter() as unknown as fs.FSWatcher;
      (watcher as unknown as { close: () => void }).close = () => {
        closed.push(dir);
        watchers.delete(dir);
      };
      return watcher;
    },
  });
  const t0 = { limit: 0 };
  return {
    cache,
    walks: () => walks,
    change: (dir = '/s/fs/a') => watchers.get(dir)!(),
    setSize: (n: number) => (size = n),
    advance: (ms: number) => (clock += ms),
    watched: () => [...watchers.keys()].sort(),
    closed,
    onNextWalk: (fn: () => void) => (duringWalk = fn),
    limit: () => t0.limit,
  };
}

/** Three calls: a one-off walk, the walk that arms the watches, the walk that is cached. */
async function armed(h: ReturnType<typeof harness>, id = 1): Promise<void> {
  for (let i = 0; i < 3; i++) await h.cache.usage(id, '/s/fs');
}

test('an idle snapshot: a first call watches nothing, the second arms the watches, the third is cached, later calls walk nothing', async (t) => {
  const h = harness();
  t.deepEqual(await h.cache.usage(1, '/s/fs'), { size: 100, inodes: 3 });
  t.is(h.limit(), 0, 'a one-off Usage lists no directories');
  t.deepEqual(h.watched(), []);
  await h.cache.usage(1, '/s/fs');
  t.is(h.limit(), MAX_WATCHED_DIRECTORIES);
  t.deepEqual(h.watched(), ['/s/fs', '/s/fs/a']);
  await h.cache.usage(1, '/s/fs');
  await h.cache.usage(1, '/s/fs');
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 3);
});

test('a change reported by a watch is measured at the next call, then cached again', async (t) => {
  const h = harness();
  await armed(h);
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 3, 'cached');
  h.setSize(4196);
  h.change();
  t.deepEqual(await h.cache.usage(1, '/s/fs'), { size: 4196, inodes: 3 });
  t.is(h.walks(), 4);
  t.deepEqual(await h.cache.usage(1, '/s/fs'), { size: 4196, inodes: 3 }, 'nothing changed during that walk: cached again');
  t.is(h.walks(), 4);
});

test('a change during the walk keeps the result out of the cache', async (t) => {
  const h = harness();
  await armed(h);
  h.change();
  h.onNextWalk(() => h.change());
  await h.cache.usage(1, '/s/fs');
  await h.cache.usage(1, '/s/fs');
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 5, 'the walk after the one that saw a change is cached');
});

test('a directory the walk found unwatched (made since) keeps the result out of the cache; one gone is unwatched', async (t) => {
  let directories = ['/s/fs', '/s/fs/a'];
  const h = harness({ directories: () => directories });
  await armed(h);
  h.change();
  directories = ['/s/fs', '/s/fs/b'];
  await h.cache.usage(1, '/s/fs');
  t.deepEqual(h.watched(), ['/s/fs', '/s/fs/b']);
  t.deepEqual(h.closed, ['/s/fs/a']);
  await h.cache.usage(1, '/s/fs');
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 5);
});

test('too many directories or a refused watch: measured every time, nothing watched', async (t) => {
  for (const h of [harness({ directories: () => undefined }), harness({ refuse: (dir) => dir === '/s/fs/a' })]) {
    for (let i = 0; i < 4; i++) await h.cache.usage(1, '/s/fs');
    t.is(h.walks(), 4);
    t.deepEqual(h.watched(), []);
  }
});

test('a cached value older than maxAgeMs is measured again; forget and close release every watch', async (t) => {
  const h = harness({ maxAgeMs: 60_000 });
  await armed(h);
  h.advance(59_999);
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 3);
  h.advance(1);
  await h.cache.usage(1, '/s/fs');
  t.is(h.walks(), 4);
  await armed(h, 2);
  t.is(h.cache.watchedDirectories(), 4, 'two snapshots, two directories each');
  h.cache.forget(1);
  t.is(h.cache.watchedDirectories(), 2);
  h.cache.close();
  t.is(h.cache.watchedDirectories(), 0);
});
