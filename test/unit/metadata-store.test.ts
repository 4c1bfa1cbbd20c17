import test from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MetadataStore, SCHEMA_VERSION } from '../../snapshotter/metadata-store';
import { makeTempDir } from '../support/temp-dir';

function openStore(t: Parameters<typeof makeTempDir>[0]): { store: MetadataStore; file: string } {
  const file = path.join(makeTempDir(t, 'store'), 'metadata.db');
  const store = new MetadataStore(file);
  t.teardown(() => store.close());
  return { store, file };
}

const base = { parentId: null, now: 1_700_000_000_123_456, labels: {} };

test('insert and get round-trip every field', (t) => {
  const { store } = openStore(t);
  const id = store.write((tx) => tx.insert({ ...base, name: 'a', kind: 'active', labels: { l: 'v' } }));
  t.deepEqual(store.read((tx) => tx.get('a')), {
    id,
    name: 'a',
    parentId: null,
    parentName: '',
    kind: 'active',
    createdAt: base.now,
    updatedAt: base.now,
    labels: { l: 'v' },
    size: 0,
    inodes: 0,
  });
});

test('a throwing write keeps nothing', (t) => {
  const { store } = openStore(t);
  t.throws(() =>
    store.write((tx) => {
      tx.insert({ ...base, name: 'a', kind: 'active' });
      throw new Error('rename failed');
    }),
  );
  t.is(store.read((tx) => tx.get('a')), undefined);
});

test('ids are never reused, even after the highest is removed and the store reopened', (t) => {
  const { store, file } = openStore(t);
  const first = store.write((tx) => tx.insert({ ...base, name: 'a', kind: 'active' }));
  const second = store.write((tx) => tx.insert({ ...base, name: 'b', kind: 'active' }));
  store.write((tx) => tx.remove(second));
  store.close();
  const reopened = new MetadataStore(file);
  t.teardown(() => reopened.close());
  const third = reopened.write((tx) => tx.insert({ ...base, name: 'c', kind: 'active' }));
  t.true(second > first);
  t.true(third > second);
});

test('commit renames, keeps the id, resets times and records usage', (t) => {
  const { store } = openStore(t);
  const id = store.write((tx) => tx.insert({ ...base, name: 'k', kind: 'active', labels: { old: '1' } }));
  store.write((tx) => tx.commit({ id, name: 'n', parentId: null, now: base.now + 5, labels: { new: '2' }, usage: { size: 4096, inodes: 3 } }));
  const record = store.read((tx) => tx.get('n'))!;
  t.is(store.read((tx) => tx.get('k')), undefined);
  t.like(record, { id, kind: 'committed', createdAt: base.now + 5, updatedAt: base.now + 5, labels: { new: '2' }, size: 4096, inodes: 3 });
});

test('parentIds lists the chain nearest first; hasChildren sees children', (t) => {
  const { store } = openStore(t);
  const ids = store.write((tx) => {
    const a = tx.insert({ ...base, name: 'a', kind: 'active' });
    tx.commit({ id: a, name: 'A', parentId: null, now: 1, labels: {}, usage: { size: 0, inodes: 0 } });
    const b = tx.insert({ ...base, name: 'b', kind: 'active', parentId: a });
    tx.commit({ id: b, name: 'B', parentId: a, now: 2, labels: {}, usage: { size: 0, inodes: 0 } });
    const c = tx.insert({ ...base, name: 'c', kind: 'view', parentId: b });
    return { a, b, c };
  });
  t.deepEqual(store.read((tx) => tx.parentIds(ids.c)), [ids.b, ids.a]);
  t.deepEqual(store.read((tx) => tx.parentIds(ids.a)), []);
  t.true(store.read((tx) => tx.hasChildren(ids.a)));
  t.false(store.read((tx) => tx.hasChildren(ids.c)));
  t.is(store.read((tx) => tx.get('c'))!.parentName, 'B');
});

test('names are unique', (t) => {
  const { store } = openStore(t);
  store.write((tx) => tx.insert({ ...base, name: 'a', kind: 'active' }));
  t.throws(() => store.write((tx) => tx.insert({ ...base, name: 'a', kind: 'view' })), { any: true, message: /UNIQUE/ });
});

test('the database is in WAL mode with synchronous=FULL and the current schema version', (t) => {
  const { store, file } = openStore(t);
  store.write((tx) => tx.insert({ ...base, name: 'a', kind: 'active' }));
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  // synchronous is per connection: read it through the store's own connection.
  t.is((store as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true }), 2);
});

test('a database from a newer tsov is refused with the fix', (t) => {
  const file = path.join(makeTempDir(t, 'store'), 'metadata.db');
  const db = new Database(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => new MetadataStore(file), { message: /newer than this tsov's .*run the newer tsov-snapshotter/ });
});
