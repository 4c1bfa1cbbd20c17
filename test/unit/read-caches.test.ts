import test from 'ava';
import { SnapshotReadCaches } from '../../snapshotter/read-caches';

test('a committed parent\'s owner is stat\'ed once for all its children, and again only after its removal (ids are never reused)', async (t) => {
  const caches = new SnapshotReadCaches();
  let stats = 0;
  const stat = async () => {
    stats++;
    return { uid: 1000, gid: 1000 };
  };
  t.deepEqual(await caches.ownerOf(7, stat), { uid: 1000, gid: 1000 });
  t.deepEqual(await caches.ownerOf(7, stat), { uid: 1000, gid: 1000 });
  t.is(stats, 1);
  let ownStats = 0;
  const own = async () => {
    ownStats++;
    return undefined;
  };
  t.is(await caches.ownerOf(8, own), undefined, 'this process\'s own ids: nothing to set');
  t.is(await caches.ownerOf(8, own), undefined);
  t.is(ownStats, 1, 'an owner of "none" is remembered too');
  caches.removed(7);
  await caches.ownerOf(7, stat);
  t.is(stats, 2);
});

test('an owner learnt at Commit (knowOwner) is used without a stat', async (t) => {
  const caches = new SnapshotReadCaches();
  caches.knowOwner(9, { uid: 100000, gid: 100000 });
  t.deepEqual(
    await caches.ownerOf(9, async () => t.fail('stat called for an owner Commit already learnt')),
    { uid: 100000, gid: 100000 },
  );
  caches.knowOwner(10, undefined);
  t.is(await caches.ownerOf(10, async () => t.fail('stat called')), undefined);
  caches.removed(9);
  t.deepEqual(await caches.ownerOf(9, async () => ({ uid: 1, gid: 2 })), { uid: 1, gid: 2 }, 'dropped on removal');
});

test('Prepares on the same parent while its owner is stat\'ed share that stat; a failed stat is not kept', async (t) => {
  const caches = new SnapshotReadCaches();
  let stats = 0;
  let finish!: (owner: { uid: number; gid: number }) => void;
  const slow = () => {
    stats++;
    return new Promise<{ uid: number; gid: number }>((resolve) => {
      finish = resolve;
    });
  };
  const both = Promise.all([caches.ownerOf(3, slow), caches.ownerOf(3, slow)]);
  finish({ uid: 7, gid: 8 });
  t.deepEqual(await both, [{ uid: 7, gid: 8 }, { uid: 7, gid: 8 }]);
  t.is(stats, 1, 'one stat for both');
  let failures = 0;
  const failing = async (): Promise<undefined> => {
    failures++;
    throw Object.assign(new Error('EIO'), { code: 'EIO' });
  };
  await t.throwsAsync(caches.ownerOf(4, failing), { code: 'EIO' });
  await t.throwsAsync(caches.ownerOf(4, failing), { code: 'EIO' });
  t.is(failures, 2, 'asked again after a failure');
  t.deepEqual(await caches.ownerOf(4, async () => ({ uid: 1, gid: 1 })), { uid: 1, gid: 1 });
});
