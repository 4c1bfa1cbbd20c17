/** tsov install's text changes: the containerd table between markers, units pointed at a prefix. */
import test from 'ava';
import { addProxyPlugin, BEGIN_MARKER, hasTsovProxyPlugin, proxyPluginBlock, removeProxyPlugin } from '../../cli/install/containerd-config';
import { unitForPrefix } from '../../cli/install/install';

const original = 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause"\n';

test('the proxy plugin table is appended between markers and removed exactly', (t) => {
  const added = addProxyPlugin(original, '/run/tsov/tsov.sock');
  if (!added.changed) return t.fail();
  t.true(added.text.startsWith(original));
  t.true(added.text.endsWith(proxyPluginBlock('/run/tsov/tsov.sock')));
  t.regex(added.text, /\[proxy_plugins\.tsov\]\n {2}type = "snapshot"\n {2}address = "\/run\/tsov\/tsov\.sock"/);
  const removed = removeProxyPlugin(added.text);
  if (!removed.changed) return t.fail();
  t.is(removed.text, original);
});

test('a file without a final newline, and an empty file, stay valid', (t) => {
  const noNewline = addProxyPlugin('version = 2', '/s');
  t.true(noNewline.changed && noNewline.text.startsWith(`version = 2\n\n${BEGIN_MARKER}`));
  const empty = addProxyPlugin('', '/s');
  t.true(empty.changed && empty.text === proxyPluginBlock('/s'));
});

test('an existing tsov table (hand-written, any quoting) is left alone; no markers means nothing to remove', (t) => {
  for (const header of ['[proxy_plugins.tsov]', '[proxy_plugins."tsov"]', "[ proxy_plugins . 'tsov' ]"]) {
    const text = `version = 2\n${header}\n  type = "snapshot"\n`;
    t.true(hasTsovProxyPlugin(text), header);
    t.like(addProxyPlugin(text, '/s'), { changed: false });
  }
  t.like(removeProxyPlugin(original), { changed: false, reason: 'no block added by tsov install' });
});

test('units point at the chosen prefix', (t) => {
  t.is(unitForPrefix('ExecStart=/usr/local/bin/tsov-helper --config /etc/tsov/config.yaml\n', '/opt/tsov/'), 'ExecStart=/opt/tsov/bin/tsov-helper --config /etc/tsov/config.yaml\n');
});
