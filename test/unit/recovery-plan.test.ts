import test from 'ava';
import { planCleanup, planStartup } from '../../snapshotter/recovery-plan';
import type { SnapshotRecord } from '../../snapshotter/snapshot-model';

const record = (id: number, kind: SnapshotRecord['kind']): SnapshotRecord => ({ id, name: `s${id}`, parentId: null, parentName: '', kind, createdAt: 0, updatedAt: 0, labels: {}, size: 0, inodes: 0 });

test('start: ids reserved above every directory; an active or view record without its directory is rolled back, a committed one reported as lost; directories no record names are left over', (t) => {
  const plan = planStartup(['1', '3', '17', 'not-a-number'], [record(1, 'committed'), record(2, 'active'), record(3, 'view'), record(4, 'view'), record(5, 'committed')]);
  t.is(plan.reserveIdsAbove, 17);
  t.deepEqual(plan.rollBack.map((r) => r.id), [2, 4]);
  t.deepEqual(plan.lost.map((r) => r.id), [5]);
  t.deepEqual(plan.leftOver, ['17', 'not-a-number'], 'directories no record names: deleted in the background');
  t.deepEqual(planStartup([], []), { reserveIdsAbove: 0, rollBack: [], lost: [], leftOver: [] });
});

test('cleanup: only directories no record names and no creation or removal in flight', (t) => {
  const busy = new Set(['7', '8']);
  t.deepEqual(planCleanup(['1', '2', '7', '8', '9', 'junk'], new Set([1, 9]), (name) => busy.has(name)), ['2', 'junk']);
});
