import test from 'ava';
import { RecordCatalog } from '../../snapshotter/record-catalog';
import type { SnapshotRecord } from '../../snapshotter/snapshot-model';

function record(id: number, name: string, fields: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return { id, name, parentId: null, parentName: '', kind: 'active', createdAt: 1, updatedAt: 1, labels: {}, size: 0, inodes: 0, ...fields };
}

test('get by name; put replaces by id, and a renamed record is no longer found by its old name', (t) => {
  const catalog = new RecordCatalog([record(1, 'key')]);
  t.is(catalog.get('key')?.id, 1);
  const committed = record(1, 'layer', { kind: 'committed' });
  catalog.put(committed);
  t.is(catalog.get('key'), undefined);
  t.is(catalog.get('layer'), committed);
  t.deepEqual([...catalog.ids()], [1]);
});

test('delete forgets both the id and the name; deleting an unknown id is a no-op', (t) => {
  const catalog = new RecordCatalog([record(1, 'a'), record(2, 'b')]);
  catalog.delete(1);
  catalog.delete(99);
  t.is(catalog.get('a'), undefined);
  t.deepEqual(catalog.all().map((r) => r.name), ['b']);
});

test('all() is in id order whatever the order of puts, and follows every change', (t) => {
  const catalog = new RecordCatalog([record(3, 'c'), record(1, 'a')]);
  t.deepEqual(catalog.all().map((r) => r.id), [1, 3]);
  catalog.put(record(2, 'b'));
  t.deepEqual(catalog.all().map((r) => r.id), [1, 2, 3]);
  const before = catalog.all();
  catalog.put(record(2, 'b2'));
  t.deepEqual(catalog.all().map((r) => r.name), ['a', 'b2', 'c']);
  t.is(before[1]!.name, 'b', 'an earlier answer is not changed under its holder');
});

test('hasChildren and parentIds follow puts, renames and deletes (Remove and Mounts are answered from them)', (t) => {
  const catalog = new RecordCatalog([record(1, 'base', { kind: 'committed' }), record(2, 'mid', { kind: 'committed', parentId: 1 }), record(3, 'top', { parentId: 2 })]);
  t.deepEqual(catalog.parentIds(3), [2, 1], 'nearest first');
  t.deepEqual(catalog.parentIds(1), []);
  t.deepEqual(catalog.parentIds(99), [], 'an unknown id has no chain');
  t.true(catalog.hasChildren(1));
  t.true(catalog.hasChildren(2));
  t.false(catalog.hasChildren(3));
  catalog.put(record(3, 'top-committed', { kind: 'committed', parentId: 2 }));
  t.true(catalog.hasChildren(2), 'a rename keeps one child, not two or none');
  catalog.delete(3);
  t.false(catalog.hasChildren(2));
  catalog.put(record(4, 'rebased', { parentId: 1 }));
  catalog.put(record(4, 'rebased', { parentId: null }));
  catalog.delete(2);
  t.false(catalog.hasChildren(1), 'a record put again without its parent no longer counts as its child');
});
