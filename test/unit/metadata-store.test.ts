import test from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MetadataStore, SCHEMA_VERSION, type NewSnapshot } from '../../snapshotter/metadata-store';
import { NOT_MEASURED, recordedUsage, type DiskUsage } from '../../snapshotter/snapshot-model';
import { makeTempDir } from '../support/temp-dir';
import { readMetadataCopy } from '../support/metadata-copy';

function openStore(t: Parameters<typeof makeTempDir>[0]): { store: MetadataStore; file: string } {
  const file = path.join(makeTempDir(t, 'store'), 'metadata.db');
  const store = new MetadataStore(file);
  t.teardown(() => store.close());
  return { store, file };
}

const base = { parentId: null, now: 1_700_000_000_123_456, labels: {} };

/** A NewSnapshot under a freshly reserved id. */
function fresh(store: MetadataStore, fields: Partial<NewSnapshot> & Pick<NewSnapshot, 'name' | 'kind'>): NewSnapshot {
  return { ...base, id: store.reserveId(), ...fields };
}

test('insert and get round-trip every field', async (t) => {
  const { store } = openStore(t);
  const snapshot = fresh(store, { name: 'a', kind: 'active', labels: { l: 'v' } });
  await store.write((tx) => tx.insert(snapshot));
  t.deepEqual(
    store.read((tx) => tx.get('a')),
    {
      id: snapshot.id,
      name: 'a',
      parentId: null,
      parentName: '',
      kind: 'active',
      createdAt: base.now,
      updatedAt: base.now,
      labels: { l: 'v' },
      size: 0,
      inodes: 0,
    },
  );
});

test('a throwing write keeps nothing', async (t) => {
  const { store } = openStore(t);
  await t.throwsAsync(
    store.write((tx) => {
      tx.insert(fresh(store, { name: 'a', kind: 'active' }));
      throw new Error('directory failed');
    }),
    { message: 'directory failed' },
  );
  t.is(store.read((tx) => tx.get('a')), undefined);
});

test('reserved ids are never reused, even after the highest is removed and the store reopened', async (t) => {
  const { store, file } = openStore(t);
  const first = fresh(store, { name: 'a', kind: 'active' });
  const second = fresh(store, { name: 'b', kind: 'active' });
  await store.write((tx) => {
    tx.insert(first);
    tx.insert(second);
  });
  await store.write((tx) => tx.remove(second.id));
  store.close();
  const reopened = new MetadataStore(file);
  t.teardown(() => reopened.close());
  const third = reopened.reserveId();
  t.true(second.id > first.id);
  t.true(third > second.id);
});

test('reserveIdsAbove skips ids of directories a crash left without records', (t) => {
  const { store } = openStore(t);
  const before = store.reserveId();
  store.reserveIdsAbove(before + 40);
  t.is(store.reserveId(), before + 41);
  store.reserveIdsAbove(3);
  t.is(store.reserveId(), before + 42);
});

test('commit renames, keeps the id, resets times and records usage', async (t) => {
  const { store } = openStore(t);
  const { id } = fresh(store, { name: 'k', kind: 'active' });
  await store.write((tx) => tx.insert({ ...base, id, name: 'k', kind: 'active', labels: { old: '1' } }));
  await store.write((tx) => tx.commit({ id, name: 'n', parentId: null, now: base.now + 5, labels: { new: '2' }, usage: { size: 4096, inodes: 3 } }));
  const record = store.read((tx) => tx.get('n'))!;
  t.is(store.read((tx) => tx.get('k')), undefined);
  t.like(record, { id, kind: 'committed', createdAt: base.now + 5, updatedAt: base.now + 5, labels: { new: '2' }, size: 4096, inodes: 3 });
});

test('parentIds lists the chain nearest first; hasChildren sees children', async (t) => {
  const { store } = openStore(t);
  const [a, b, c] = [store.reserveId(), store.reserveId(), store.reserveId()];
  await store.write((tx) => {
    tx.insert({ ...base, id: a, name: 'a', kind: 'active' });
    tx.commit({ id: a, name: 'A', parentId: null, now: 1, labels: {}, usage: { size: 0, inodes: 0 } });
    tx.insert({ ...base, id: b, name: 'b', kind: 'active', parentId: a });
    tx.commit({ id: b, name: 'B', parentId: a, now: 2, labels: {}, usage: { size: 0, inodes: 0 } });
    tx.insert({ ...base, id: c, name: 'c', kind: 'view', parentId: b });
  });
  t.deepEqual(store.read((tx) => tx.parentIds(c)), [b, a]);
  t.deepEqual(store.read((tx) => tx.parentIds(a)), []);
  t.true(store.read((tx) => tx.hasChildren(a)));
  t.false(store.read((tx) => tx.hasChildren(c)));
  t.is(store.read((tx) => tx.get('c'))!.parentName, 'B');
});

test('all() follows every change (insert, commit, label update, remove), in id order, and forgets rolled-back writes', async (t) => {
  const { store } = openStore(t);
  const names = () => store.read((tx) => tx.all()).map((r) => `${r.id}:${r.name}:${r.kind}:${JSON.stringify(r.labels)}`);
  const [a, b, c] = [store.reserveId(), store.reserveId(), store.reserveId()];
  // c lands before b: List must still come out in id order.
  await store.write((tx) => tx.insert({ ...base, id: a, name: 'a', kind: 'active' }));
  t.deepEqual(names(), [`${a}:a:active:{}`]);
  await store.write((tx) => tx.insert({ ...base, id: c, name: 'c', kind: 'active' }));
  await store.write((tx) => tx.insert({ ...base, id: b, name: 'b', kind: 'view' }));
  t.deepEqual(names(), [`${a}:a:active:{}`, `${b}:b:view:{}`, `${c}:c:active:{}`]);
  const before = store.read((tx) => tx.all());
  await store.write((tx) => tx.commit({ id: a, name: 'A', parentId: null, now: 2, labels: { x: '1' }, usage: { size: 0, inodes: 0 } }));
  await store.write((tx) => tx.updateLabels(b, { y: '2' }, 3));
  await store.write((tx) => tx.remove(c));
  t.deepEqual(names(), [`${a}:A:committed:{"x":"1"}`, `${b}:b:view:{"y":"2"}`]);
  t.is(before[0]!.name, 'a', 'records already handed out are not mutated');
  await t.throwsAsync(
    store.write((tx) => {
      tx.remove(a);
      tx.all();
      throw new Error('abandoned');
    }),
    { message: 'abandoned' },
  );
  t.deepEqual(names(), [`${a}:A:committed:{"x":"1"}`, `${b}:b:view:{"y":"2"}`]);
});

test('names are unique', async (t) => {
  const { store } = openStore(t);
  await store.write((tx) => tx.insert(fresh(store, { name: 'a', kind: 'active' })));
  await t.throwsAsync(store.write((tx) => tx.insert(fresh(store, { name: 'a', kind: 'view' }))), { any: true, message: /UNIQUE/ });
});

test('concurrent writes share fsyncs of the WAL (group commit), and each is durable when it resolves', async (t) => {
  const { store, file } = openStore(t);
  const before = store.walSyncs;
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.write((tx) => tx.insert(fresh(store, { name: `s${i}`, kind: 'active' })))));
  const syncs = store.walSyncs - before;
  t.true(syncs >= 1 && syncs <= 2, `50 concurrent writes took ${syncs} fsyncs`);
  // What a crash right now would find: the files as they are, read by another connection.
  t.is(
    readMetadataCopy(file, (db) => db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM snapshots').get()?.n),
    50,
  );
});

test('the database is in WAL mode with synchronous=NORMAL (the store fsyncs the WAL) and the current schema version', async (t) => {
  const { store, file } = openStore(t);
  await store.write((tx) => tx.insert(fresh(store, { name: 'a', kind: 'active' })));
  t.deepEqual(
    readMetadataCopy(file, (db) => [db.pragma('journal_mode', { simple: true }), db.pragma('user_version', { simple: true })]),
    ['wal', SCHEMA_VERSION],
  );
  const other = new Database(file, { readonly: true });
  t.teardown(() => other.close());
  t.throws(() => other.prepare('SELECT COUNT(*) FROM snapshots').get(), { any: true, code: 'SQLITE_BUSY' }, 'held exclusively while the store is open');
  // synchronous is per connection: read it through the store's own connection.
  t.is((store as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true }), 1);
});

test('a database from a newer tsov is refused with the fix', (t) => {
  const file = path.join(makeTempDir(t, 'store'), 'metadata.db');
  const db = new Database(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => new MetadataStore(file), { message: /newer than this tsov's .*run the newer tsov-snapshotter/ });
});

test('a commit without a usage records it as not measured; recordUsage shows at once, reaches the database with the next write (no transaction or fsync of its own) or the close, and touches no time', async (t) => {
  const { store, file } = openStore(t);
  const onDisk = (id: number) => readMetadataCopy(file, (db) => db.prepare('SELECT size, inodes FROM snapshots WHERE id = ?').get(id));
  const { id } = fresh(store, { name: 'k', kind: 'active' });
  await store.write((tx) => tx.insert({ ...base, id, name: 'k', kind: 'active' }));
  store.recordUsage(id, { size: 1, inodes: 1 });
  t.like(store.read((tx) => tx.get('k')), { size: 0, inodes: 0 }, 'an active snapshot: nothing recorded');
  await store.write((tx) => tx.commit({ id, name: 'n', parentId: null, now: base.now + 5, labels: {}, usage: undefined }));
  const committed = store.read((tx) => tx.get('n'))!;
  t.is(recordedUsage(committed), undefined);
  t.like(committed, { size: NOT_MEASURED, inodes: NOT_MEASURED });
  const syncs = store.walSyncs;
  store.recordUsage(id, { size: 8192, inodes: 4 });
  t.is(store.walSyncs, syncs, 'no fsync of its own');
  t.deepEqual(store.read((tx) => tx.get('n')), { ...committed, size: 8192, inodes: 4 }, 'read at once; only size and inodes change');
  t.like(onDisk(id), { size: NOT_MEASURED, inodes: NOT_MEASURED }, 'not written yet');
  const other = fresh(store, { name: 'o', kind: 'active' });
  await t.throwsAsync(
    store.write((tx) => {
      tx.insert(other);
      throw new Error('abandoned');
    }),
  );
  t.like(onDisk(id), { size: NOT_MEASURED, inodes: NOT_MEASURED }, 'a write that rolls back does not take it');
  t.deepEqual(recordedUsage(store.read((tx) => tx.get('n'))!), { size: 8192, inodes: 4 });
  await store.write((tx) => tx.insert(other));
  t.like(onDisk(id), { size: 8192, inodes: 4 }, 'the next write takes it');
  // A walk's result carries more than the two figures (MeasuredTree): only those are kept.
  store.recordUsage(id, { size: 12288, inodes: 5, rootOwner: { uid: 0, gid: 0 } } as DiskUsage);
  t.deepEqual(store.read((tx) => tx.get('n')), { ...committed, size: 12288, inodes: 5 });
  store.close();
  t.like(onDisk(id), { size: 12288, inodes: 5 }, 'so does the close');
});

test('restore puts a committed snapshot back as the active one it was, every field', async (t) => {
  const { store, file } = openStore(t);
  const parent = fresh(store, { name: 'p', kind: 'active' });
  await store.write((tx) => {
    tx.insert(parent);
    tx.commit({ id: parent.id, name: 'P', parentId: null, now: 2, labels: {}, usage: { size: 0, inodes: 1 } });
  });
  const child = fresh(store, { name: 'k', kind: 'active', parentId: parent.id, labels: { a: 'b' } });
  await store.write((tx) => tx.insert(child));
  const active = store.read((tx) => tx.get('k'))!;
  await store.write((tx) => tx.commit({ id: child.id, name: 'n', parentId: parent.id, now: base.now + 9, labels: { c: 'd' }, usage: undefined }));
  await store.write((tx) => tx.restore(active));
  t.deepEqual(store.read((tx) => tx.get('k')), active);
  t.is(store.read((tx) => tx.get('n')), undefined);
  store.close();
  const reopened = new MetadataStore(file);
  t.teardown(() => reopened.close());
  t.deepEqual(reopened.read((tx) => tx.get('k')), active, 'the same in the database');
});
