import test from 'ava';
import { matchFilters, parseFilter, parseFilters, type FieldAdaptor } from '../../snapshotter/filters';
import { InvalidArgumentError } from '../../common/errors';

const info = {
  name: 'a-wl',
  parent: 'p-wl',
  kind: 'active',
  labels: { l: '2', 'containerd.io/gc.root': 'check-walk', 'a.b': 'dotted' } as Record<string, string>,
};

const adaptor: FieldAdaptor = (path) => {
  if (path[0] === 'labels') {
    const key = path.slice(1).join('.');
    return key in info.labels ? info.labels[key] : undefined;
  }
  if (path.length !== 1) return undefined;
  return (info as unknown as Record<string, string | undefined>)[path[0]!];
};

const matchCases: Array<[string[], boolean]> = [
  [[], true],
  [[''], true],
  [['name==a-wl'], true],
  [['name==p'], false],
  [['name==p', 'name==a-wl'], true],
  [['kind==active,labels."containerd.io/gc.root"==check-walk'], true],
  [['kind==view,labels."containerd.io/gc.root"==check-walk'], false],
  [['labels.l'], true],
  [['labels.missing'], false],
  [['labels.l==2'], true],
  [['labels.l==3'], false],
  [['parent!=""'], true],
  [['parent!=p-wl'], false],
  [['labels.missing!=x'], true],
  [['name~=/^a-/'], true],
  [['name~=|w.$|'], true],
  [['name~="^p"'], false],
  [['name~=^a'], true],
  [['labels."a.b"==dotted'], true],
  [['labels.a.b==dotted'], true],
  [['name == a-wl , kind == active'], true],
  [['name=="a\\x2dwl"'], true],
  [['unknown'], false],
  [['unknown!=x'], true],
];

for (const [filters, expected] of matchCases) {
  test(`filters ${JSON.stringify(filters)} ${expected ? 'match' : 'do not match'}`, (t) => {
    t.is(matchFilters(parseFilters(filters), adaptor), expected);
  });
}

test('parseFilter keeps the field path, operator and value', (t) => {
  t.deepEqual(parseFilter('labels."containerd.io/gc.root"==v,name'), [
    { fieldpath: ['labels', 'containerd.io/gc.root'], operator: '==', value: 'v' },
    { fieldpath: ['name'], operator: 'present', value: '' },
  ]);
});

const syntaxErrors: Array<[string, RegExp]> = [
  ['name==', /expected value or quoted/],
  ['==x', /expected field or quoted/],
  ['name=x', /unsupported operator "="/],
  ['name===x', /unsupported operator "==="/],
  ['name>x', /expected an operator/],
  ['name==x y', /unexpected input "y"/],
  ['name==x,', /expected field or quoted/],
  ['labels."unterminated==x', /quoted literal not terminated/],
  ['name==/regex/', /invalid quote encountered/],
  ['name~=/(/', /invalid regular expression/],
  ['name=="\\q"', /illegal escape sequence/],
  ['name=="\\x4"', /illegal numeric escape sequence/],
  ['name..x', /expected field or quoted/],
  ['na\u0000me', /NUL/],
];

for (const [input, message] of syntaxErrors) {
  test(`parseFilter refuses ${JSON.stringify(input)}`, (t) => {
    const error = t.throws(() => parseFilter(input), { instanceOf: InvalidArgumentError, message });
    t.regex(error.message, /invalid filter/);
  });
}
