/**
 * tsov's spec reader (translator/spec/spec-document.ts) judged by Go's own
 * decoder: test/support/go/spec-oracle decodes each spec exactly as runc's
 * loadSpec does (runc spec.go: json.NewDecoder(f).Decode(&spec) into
 * runtime-spec's specs.Spec, Debian's golang-github-opencontainers-runc-dev /
 * -runtime-spec-dev sources). Where Go reads a spec, tsov must read the same
 * mounts and annotations, or refuse it for a reason it names (trailing data,
 * fields Go would merge); where Go refuses it, tsov refuses it too. And a
 * spec tsov rewrote must decode, for Go, to exactly the original in every
 * field but mounts and annotations.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { OciMount, OciSpec } from '../../translator/spec/oci-spec';
import { parseSpecDocument, renderSpecDocument } from '../../translator/spec/spec-document';
import { buildSpecOracle } from '../support/go-harness';
import { makeTempDir } from '../support/temp-dir';

interface GoReading {
  error?: string;
  mounts?: Array<{ destination: string; type?: string; source?: string; options?: string[] }> | null;
  annotations?: Record<string, string> | null;
  rest?: string;
}

const oracle = buildSpecOracle();

function goReads(dir: string, name: string, text: string): GoReading {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return JSON.parse(execFileSync(oracle, [file], { encoding: 'utf8' })) as GoReading;
}

/** tsov's mounts in Go's shape (Go omits empty type/source/options). */
function asGo(mounts: OciMount[] | undefined) {
  if (mounts === undefined) return null;
  return mounts.map((m) => ({
    destination: m.destination,
    ...(m.type ? { type: m.type } : {}),
    ...(m.source ? { source: m.source } : {}),
    ...(m.options && m.options.length > 0 ? { options: m.options } : {}),
  }));
}

const overlay = '{"destination":"/ov","type":"overlay","source":"overlay","options":["lowerdir=/a:/b"]}';
const rlimits = '"process":{"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":18446744073709551615}]}';

/** [name, spec text, what tsov does when Go reads it: 'same' or a refusal it names] */
const cases: Array<[string, string, 'same' | RegExp]> = [
  ['plain', `{${rlimits},"mounts":[${overlay}]}`, 'same'],
  ['"Type": "overlay"', '{"mounts":[{"destination":"/ov","Type":"overlay","Source":"overlay","Options":["lowerdir=/a:/b"]}]}', 'same'],
  ['"MOUNTS"', `{"MOUNTS":[${overlay}]}`, 'same'],
  ['"mountſ" (U+017F folds to s)', `{"mount\u017f":[${overlay}]}`, 'same'],
  ['"DeStInAtIoN"', '{"mounts":[{"DeStInAtIoN":"/x","type":"overlay"}]}', 'same'],
  ['"Annotations"', '{"Annotations":{"a":"1"},"mounts":[]}', 'same'],
  ['a null entry', '{"mounts":[null,{"destination":"/x","type":"bind"}]}', 'same'],
  ['null annotations', '{"annotations":null}', 'same'],
  ['unknown fields and deep nesting', `{"x":${'['.repeat(5000)}${']'.repeat(5000)},"mounts":[${overlay}]}`, 'same'],
  ['escaped keys and values', '{"mo\\u0075nts":[{"destination":"/x","type":"\\u006fverlay"}]}', 'same'],
  ['trailing data', `{"mounts":[${overlay}]}{"mounts":[]}`, /unexpected data after the JSON value/],
  ['"mounts" twice', `{"mounts":[${overlay}],"Mounts":[{"destination":"/b"}]}`, /runc would merge them/],
  ['"type" twice in one entry', '{"mounts":[{"destination":"/x","type":"bind","TYPE":"overlay"}]}', /Go reads as one field "type"/],
];
const goRefuses: Array<[string, string]> = [
  ['annotations as a string', '{"annotations":"x"}'],
  ['an annotation that is a number', '{"annotations":{"a":1}}'],
  ['mounts as an object', '{"mounts":{"destination":"/x"}}'],
  ['a string entry', '{"mounts":["x"]}'],
  ['options as a string', '{"mounts":[{"destination":"/x","options":"ro"}]}'],
  ['10,001 levels', `{"x":${'['.repeat(10_001)}${']'.repeat(10_001)}}`],
  ['a trailing comma', '{"mounts":[],}'],
  ['a top-level array', '[]'],
];

test('where Go reads a spec, tsov reads the same mounts and annotations or names why it refuses; where Go refuses, tsov refuses', (t) => {
  const dir = makeTempDir(t, 'spec-go');
  for (const [name, text, expected] of cases) {
    const go = goReads(dir, 'case.json', text);
    t.is(go.error, undefined, `${name}: Go reads it (${go.error})`);
    if (expected === 'same') {
      const document = parseSpecDocument(text, 'config.json');
      t.deepEqual(asGo(document.spec.mounts), go.mounts ?? null, `${name}: mounts`);
      t.deepEqual(document.spec.annotations ?? null, go.annotations ?? null, `${name}: annotations`);
    } else {
      t.throws(() => parseSpecDocument(text, 'config.json'), { message: expected }, name);
    }
  }
  for (const [name, text] of goRefuses) {
    t.truthy(goReads(dir, 'case.json', text).error, `${name}: Go refuses it`);
    t.throws(() => parseSpecDocument(text, 'config.json'), undefined, `${name}: tsov refuses it`);
  }
  // The one spec Go reads as null: runc then fails on it.
  t.is(goReads(dir, 'null.json', 'null').error, 'the spec is null');
  t.throws(() => parseSpecDocument('null', 'config.json'), { message: /must be a JSON object, not null/ });
});

test("a rewritten spec is, for Go, the original in every field but mounts and annotations (rlimits of 2^64-1 included)", (t) => {
  const dir = makeTempDir(t, 'spec-go-render');
  const text = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'runc-spec.json'), 'utf8');
  const document = parseSpecDocument(text, 'config.json');
  const mounts = document.spec.mounts!.map((m) => (m.type === 'overlay' ? { destination: m.destination, type: 'bind', source: '/run/tsov/x', options: ['rbind', 'rw'] } : m));
  const translated: OciSpec = { ...document.spec, mounts, annotations: { ...document.spec.annotations, 'tsov.dev/translated': 'true' } };
  const out = renderSpecDocument(document, translated);
  const before = goReads(dir, 'before.json', text);
  const after = goReads(dir, 'after.json', out);
  t.is(after.error, undefined);
  t.is(after.rest, before.rest, 'process, root, linux ... decode to the same values');
  t.true(before.rest!.includes('"hard":18446744073709551615'), 'the fixture has an unlimited rlimit, and Go keeps it');
  t.deepEqual(after.mounts, asGo(mounts));
  t.deepEqual(after.annotations, translated.annotations);
});
