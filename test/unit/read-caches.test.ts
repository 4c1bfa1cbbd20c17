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
