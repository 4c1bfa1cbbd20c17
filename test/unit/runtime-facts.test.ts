/** tsov-runtime's cache of the policy values every call needs: reused while the policy file is unchanged, reloaded when it changes. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { cacheFile, passthroughContent, policyDigest, readCachedFacts, writeCachedFacts, type RuntimeFacts } from '../../translator/runtime/runtime-facts';
import { makeTempDir } from '../support/temp-dir';

const facts: RuntimeFacts = { binary: '/usr/sbin/runc', kind: 'runc', stateDir: '/run/tsov/mounts' };

test('cached facts are read back while the policy is unchanged, and dropped when it changes or vanishes', (t) => {
  const dir = makeTempDir(t, 'facts');
  const policy = path.join(dir, 'config.yaml');
  fs.writeFileSync(policy, 'runtime:\n  kind: runc\n');
  const cache = cacheFile(path.join(dir, 'cache'), policy);
  t.is(readCachedFacts(cache, policy), undefined, 'nothing cached yet');
  writeCachedFacts(cache, policy, facts);
  t.deepEqual(readCachedFacts(cache, policy), facts);
  fs.writeFileSync(policy, 'runtime:\n  kind: crun\n  binary: /usr/bin/crun\n');
  t.is(readCachedFacts(cache, policy), undefined, 'a changed policy is loaded again');
  fs.rmSync(policy);
  t.is(readCachedFacts(cache, policy), undefined);
});

test('each policy path has its own cache file; no policy file means the defaults', (t) => {
  t.not(cacheFile('/c', '/etc/a.yaml'), cacheFile('/c', '/etc/b.yaml'));
  const dir = makeTempDir(t, 'facts-defaults');
  const cache = cacheFile(dir, undefined);
  writeCachedFacts(cache, undefined, facts);
  t.deepEqual(readCachedFacts(cache, undefined), facts);
});

test('the pass-through cache is four lines (policy, its SHA-256, runtime, state dir), or nothing when a value cannot be one line', (t) => {
  const digest = 'ab'.repeat(32);
  t.is(passthroughContent('/etc/tsov/config.yaml', digest, facts), `/etc/tsov/config.yaml\n${digest}\n/usr/sbin/runc\n/run/tsov/mounts\n`);
  t.is(passthroughContent(undefined, '(defaults)', facts), '(defaults)\n(defaults)\n/usr/sbin/runc\n/run/tsov/mounts\n');
  t.is(passthroughContent('/etc/a\nb.yaml', digest, facts), undefined);
  t.is(passthroughContent(undefined, '(defaults)', { ...facts, binary: '/opt/run\rc' }), undefined);
  t.is(passthroughContent(undefined, '(defaults)', { ...facts, stateDir: '' }), undefined);
});

test('the cache is keyed on the policy content: a replacement with the same size and an older mtime is still seen', (t) => {
  const dir = makeTempDir(t, 'facts-content');
  const policy = path.join(dir, 'config.yaml');
  fs.writeFileSync(policy, 'runtime:\n  kind: runc\n');
  const cache = cacheFile(path.join(dir, 'cache'), policy);
  writeCachedFacts(cache, policy, facts);
  const stat = fs.statSync(policy);
  fs.writeFileSync(policy, 'runtime:\n  kind: crun\n');
  fs.utimesSync(policy, stat.atime, new Date(stat.mtimeMs - 60_000));
  t.is(readCachedFacts(cache, policy), undefined);
  t.is(policyDigest(policy), crypto.createHash('sha256').update('runtime:\n  kind: crun\n').digest('hex'));
});
