import test from 'ava';
import { applyLabelUpdate, MAX_LABEL_BYTES, storedLabels, validateLabels } from '../../snapshotter/labels';
import { InvalidArgumentError } from '../../common/errors';

const current = { a: '1', b: '2', keep: 'k' };

const updates: Array<[string, Record<string, string>, string[], Record<string, string>]> = [
  ['no mask replaces all labels', { x: '9' }, [], { x: '9' }],
  ['no mask drops empty values', { x: '9', y: '' }, [], { x: '9' }],
  ['"labels" replaces all labels', { x: '9' }, ['labels'], { x: '9' }],
  ['"labels.a" sets one label', { a: 'new', x: 'ignored' }, ['labels.a'], { a: 'new', b: '2', keep: 'k' }],
  ['"labels.c" adds one label', { c: '3' }, ['labels.c'], { a: '1', b: '2', keep: 'k', c: '3' }],
  ['"labels.a" with no value deletes it', {}, ['labels.a'], { b: '2', keep: 'k' }],
  ['"labels.a" with an empty value deletes it', { a: '' }, ['labels.a'], { b: '2', keep: 'k' }],
  ['two keys at once', { a: 'A', b: 'B' }, ['labels.a', 'labels.b'], { a: 'A', b: 'B', keep: 'k' }],
  ['a dotted key', { 'containerd.io/gc.root': 'r' }, ['labels.containerd.io/gc.root'], { ...current, 'containerd.io/gc.root': 'r' }],
];

for (const [title, requested, paths, expected] of updates) {
  test(`applyLabelUpdate: ${title}`, (t) => {
    t.deepEqual(applyLabelUpdate(current, requested, paths, 'snap'), expected);
  });
}

for (const path of ['name', 'parent', 'kind', 'created_at', 'updated_at', 'labelsx']) {
  test(`applyLabelUpdate refuses the immutable field ${path}`, (t) => {
    t.throws(() => applyLabelUpdate(current, {}, [path], 'snap'), {
      instanceOf: InvalidArgumentError,
      message: new RegExp(`cannot update "${path}" field on snapshot "snap"`),
    });
  });
}

test('validateLabels accepts a pair of exactly the maximum size', (t) => {
  t.notThrows(() => validateLabels({ k: 'v'.repeat(MAX_LABEL_BYTES - 1) }));
});

test('validateLabels refuses a pair one byte over the maximum', (t) => {
  t.throws(() => validateLabels({ k: 'v'.repeat(MAX_LABEL_BYTES) }), {
    instanceOf: InvalidArgumentError,
    message: /4097 bytes\) greater than maximum size \(4096 bytes\)/,
  });
});

test('validateLabels counts bytes, not characters', (t) => {
  t.throws(() => validateLabels({ k: 'é'.repeat(2048) }), { instanceOf: InvalidArgumentError });
});

test('validateLabels refuses an empty key', (t) => {
  t.throws(() => validateLabels({ '': 'v' }), { message: /must not be empty/ });
});

test('storedLabels drops only empty values', (t) => {
  t.deepEqual(storedLabels({ a: '', b: ' ', c: 'x' }), { b: ' ', c: 'x' });
});
