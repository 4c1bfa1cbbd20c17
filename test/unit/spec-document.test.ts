/**
 * config.json read as runc reads it and rewritten without touching what tsov
 * does not change (translator/spec/spec-document.ts). Go's own decoder is the
 * judge in test/integration/spec-document-go.test.ts; these tables pin the
 * behaviour and the messages.
 */
import test from 'ava';
import { InvalidArgumentError } from '../../common/errors';
import { MAX_JSON_DEPTH, scanJson } from '../../translator/spec/json-scan';
import type { OciMount } from '../../translator/spec/oci-spec';
import { goFoldKey, parseSpecDocument, renderSpecDocument } from '../../translator/spec/spec-document';

const overlay = '{"destination":"/ov","type":"overlay","source":"overlay","options":["lowerdir=/a:/b"]}';
const parse = (text: string) => parseSpecDocument(text, 'config.json');

test('keys fold as Go folds them: ASCII case, ſ as s, K (Kelvin) as k, nothing else', (t) => {
  t.is(goFoldKey('Mounts'), 'mounts');
  t.is(goFoldKey('MOUNTS'), 'mounts');
  t.is(goFoldKey('mount\u017f'), 'mounts');
  t.is(goFoldKey('\u212aey'), 'key');
  t.is(goFoldKey('mountś'), 'mountś');
  t.is(goFoldKey('İd'), 'İd', 'no Unicode lowering beyond what EqualFold does for ASCII targets');
});

const views: Array<[string, string, Partial<OciMount>[] | undefined]> = [
  ['lower-case keys', `{"mounts":[${overlay}]}`, [{ destination: '/ov', type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] }]],
  ['"Type" and "Destination"', '{"mounts":[{"Destination":"/ov","Type":"overlay","OPTIONS":["lowerdir=/a:/b"]}]}', [{ destination: '/ov', type: 'overlay', options: ['lowerdir=/a:/b'] }]],
  ['"Mounts" and "mountſ" name the mounts', '{"mountſ":[{"destination":"/ov","type":"overlay"}]}', [{ destination: '/ov', type: 'overlay' }]],
  ['a null entry is an empty mount, kept as written', '{"mounts":[null]}', [{ destination: '' }]],
  ['null mounts are no mounts', '{"mounts":null}', undefined],
  ['no mounts', '{"ociVersion":"1.0.2"}', undefined],
  ['null fields are left unset, as Go leaves them', '{"mounts":[{"destination":"/x","type":null,"options":null}]}', [{ destination: '/x' }]],
];
for (const [name, text, expected] of views) {
  test(`reads mounts as runc does: ${name}`, (t) => {
    t.deepEqual(parse(text).spec.mounts, expected as OciMount[] | undefined);
  });
}

const refused: Array<[string, string, RegExp]> = [
  ['trailing data (runc would ignore it)', `{"mounts":[${overlay}]} {"mounts":[]}`, /config.json is not valid JSON: unexpected data after the JSON value at "\{\\"mounts\\":\[\]" at offset \d+/],
  ['trailing garbage', '{}x', /unexpected data after the JSON value/],
  ['a top-level null', 'null', /config.json: the spec must be a JSON object, not null/],
  ['a top-level array', '[]', /the spec must be a JSON object, not an array/],
  ['mounts as an object', '{"mounts":{"destination":"/x"}}', /"mounts" must be an array of mounts, not an object/],
  ['mounts as a string', '{"mounts":"overlay"}', /"mounts" must be an array of mounts, not a string/],
  ['a string entry', '{"mounts":["overlay"]}', /mounts\[0\] must be an object, not a string/],
  ['type as a number', '{"mounts":[{"destination":"/x","type":1}]}', /mounts\[0\].type must be a string/],
  ['options as a string', '{"mounts":[{"destination":"/x","options":"ro"}]}', /mounts\[0\].options must be an array of strings/],
  ['annotations as a string', `{"mounts":[${overlay}],"annotations":"x"}`, /"annotations" must be an object of strings, not a string; runc refuses such a spec too/],
  ['annotations as an array', '{"annotations":["x"]}', /must be an object of strings, not an array/],
  ['an annotation that is a number', '{"annotations":{"a":1}}', /annotation "a" must be a string, not a number/],
  ['"mounts" and "Mounts" (Go merges the second into the first)', '{"mounts":[],"Mounts":[]}', /2 members are read by Go's encoding\/json as "mounts" \("mounts", "Mounts"\); runc would merge them: keep one/],
  ['"annotations" twice', '{"annotations":{},"Annotations":{}}', /as "annotations"/],
  ['"type" and "Type" in one entry', '{"mounts":[{"destination":"/x","type":"bind","Type":"overlay"}]}', /mounts\[0\] has both "type" and "Type", which Go reads as one field "type"; keep one/],
  ['nesting deeper than Go allows', `{"x":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`, /nesting deeper than 10000 levels/],
  ['a missing comma', '{"a":1 "b":2}', /expected ',' or '\}' at/],
  ['an unterminated string', '{"a":"b', /expected a JSON value at/],
  ['a trailing comma', '{"a":[1,]}', /expected a JSON value at "\]\}"/],
  ['a control character in a string', '{"a":"\u0001"}', /expected a JSON value/],
];
for (const [name, text, message] of refused) {
  test(`refuses with one line: ${name}`, (t) => {
    const error = t.throws(() => parse(text), { instanceOf: InvalidArgumentError, message });
    t.false(error.message.includes('\n'));
  });
}

test('5,000 levels of nesting (runc accepts up to 10,000) are read without recursion and kept verbatim', (t) => {
  const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
  const text = `{"x":${deep},"mounts":[${overlay}]}`;
  const document = parse(text);
  const mounts = document.spec.mounts!.map((m) => ({ ...m, type: 'bind' }));
  const out = renderSpecDocument(document, { ...document.spec, mounts });
  t.true(out.includes(`"x":${deep}`));
  t.notThrows(() => scanJson(out, 1));
});

test('numbers above 2^53 stay exactly as written: only the changed mounts and the annotations are rewritten', (t) => {
  const text = `{\n  "process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1.50e3}]},\n  "mounts": [\n    {"destination": "/proc", "type": "proc"},\n    {"destination": "/ov", "Type": "overlay", "uidMappings": [{"containerID": 0, "hostID": 4294967295, "size": 1}], "options": ["lowerdir=/a:/b"]}\n  ],\n  "linux": {"x": 12345678901234567890}\n}\n`;
  const document = parse(text);
  const [proc, entry] = document.spec.mounts!;
  const { type: _type, options: _options, ...rest } = entry!;
  const bind = { ...rest, type: 'bind', source: '/run/m', options: ['rbind', 'rw'] };
  const out = renderSpecDocument(document, { ...document.spec, mounts: [proc!, bind], annotations: { 'tsov.dev/translated': 'true' } });
  t.true(out.includes('"hard": 18446744073709551615, "soft": 1.50e3'), 'rlimits untouched');
  t.true(out.includes('"x": 12345678901234567890'));
  t.true(out.includes('{"destination": "/proc", "type": "proc"}'), 'an unchanged entry is copied byte for byte');
  t.true(out.includes('"uidMappings":[{"containerID": 0, "hostID": 4294967295, "size": 1}]'), "an unknown member of a changed entry keeps its text");
  t.false(out.includes('"Type"'), 'the case-variant key is replaced by the field tsov wrote');
  t.regex(out, /"x": 12345678901234567890\},"annotations":\{"tsov.dev\/translated":"true"\}\n\}\n$/, 'annotations added after the last member');
  const again = parse(out);
  t.deepEqual(again.spec.mounts![1], { destination: '/ov', uidMappings: [{ containerID: 0, hostID: 4294967295, size: 1 }], type: 'bind', source: '/run/m', options: ['rbind', 'rw'] });
});

test('an existing annotations member is replaced in place (its key as written); an unchanged spec comes back byte for byte', (t) => {
  const text = '{"Annotations": {"a": "1"}, "mounts": []}';
  const document = parse(text);
  t.is(renderSpecDocument(document, document.spec), text);
  t.is(renderSpecDocument(document, { ...document.spec, annotations: { a: '1', b: '2' } }), '{"Annotations": {"a":"1","b":"2"}, "mounts": []}');
  t.is(renderSpecDocument(parse('{}'), { annotations: { a: '1' } }), '{"annotations":{"a":"1"}}');
});
