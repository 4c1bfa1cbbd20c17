/** The Kubernetes and containerd files under deploy/ parse, and say what the docs say they do. */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import YAML from 'yaml';
import { REPO_ROOT } from '../support/paths';

const deploy = (file: string) => fs.readFileSync(path.join(REPO_ROOT, 'deploy', file), 'utf8');

test('runtimeclass.yaml defines the tsov and tsov-runsc handlers', (t) => {
  const docs = YAML.parseAllDocuments(deploy('runtimeclass.yaml')).map((d) => d.toJS() as { kind: string; handler: string });
  t.deepEqual(docs.map((d) => [d.kind, d.handler]), [['RuntimeClass', 'tsov'], ['RuntimeClass', 'tsov-runsc']]);
});

test('daemonset.yaml runs the helper with bidirectional mount propagation and the snapshotter without privileges', (t) => {
  const ds = YAML.parse(deploy('daemonset.yaml')) as { kind: string; spec: { template: { spec: { containers: Array<{ name: string; securityContext: Record<string, unknown>; volumeMounts: Array<{ mountPath: string; mountPropagation?: string }> }> } } } };
  t.is(ds.kind, 'DaemonSet');
  const [helper, snapshotter] = ds.spec.template.spec.containers;
  t.is(helper!.name, 'helper');
  t.is(helper!.volumeMounts.find((m) => m.mountPath === '/run/tsov')!.mountPropagation, 'Bidirectional');
  t.is(snapshotter!.securityContext.privileged, undefined);
  t.deepEqual((snapshotter!.securityContext.capabilities as { drop: string[] }).drop, ['ALL']);
});

test("daemonset.yaml starts each container with its daemon's package.json bin entry, where the image's build put it", (t) => {
  const ds = YAML.parse(deploy('daemonset.yaml')) as { spec: { template: { spec: { containers: Array<{ name: string; command: string[] }> } } } };
  const { bin } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const expected: Record<string, string> = { helper: 'tsov-helper', snapshotter: 'tsov-snapshotter' };
  const containers = ds.spec.template.spec.containers;
  t.deepEqual(containers.map((c) => c.name).sort(), Object.keys(expected).sort());
  for (const container of containers) t.is(container.command[0], `/opt/tsov/${bin[expected[container.name]!]!}`, container.name);
});

test("daemonset.yaml probes each daemon with `tsov health` for its own daemon, the CLI's package.json bin entry, liveness slower than readiness", (t) => {
  type Probe = { exec: { command: string[] }; periodSeconds: number; timeoutSeconds: number; failureThreshold?: number };
  type Container = { name: string; startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe };
  const ds = YAML.parse(deploy('daemonset.yaml')) as { spec: { template: { spec: { containers: Container[] } } } };
  const { bin } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  for (const container of ds.spec.template.spec.containers) {
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
      const probe = container[kind];
      t.truthy(probe, `${container.name}: ${kind}`);
      const [cli, command, target, ...rest] = probe.exec.command;
      t.deepEqual([cli, command, target], [`/opt/tsov/${bin.tsov!}`, 'health', container.name], `${container.name}: ${kind}`);
      const limit = Number(rest[rest.indexOf('--timeout') + 1]);
      t.true(limit > 0 && limit < probe.timeoutSeconds, `${container.name}: ${kind}: the health check's own limit (${limit} s) ends before the kubelet's (${probe.timeoutSeconds} s)`);
      t.deepEqual(rest.slice(0, 2), ['--config', '/etc/tsov/config.yaml'], `${container.name}: ${kind}: the node's policy (its socket)`);
      // Liveness asks only that the daemon answers: NOT_SERVING (a stalled disk) is not mended by a restart.
      t.is(rest.includes('--live'), kind === 'livenessProbe', `${container.name}: ${kind}: --live only for liveness`);
    }
    t.true(container.livenessProbe.periodSeconds * (container.livenessProbe.failureThreshold ?? 3) >= 60, `${container.name}: a restart only after a minute without answers`);
  }
});

test('the containerd files name the proxy plugin, the snapshotter and tsov-runtime', (t) => {
  for (const file of ['containerd-1.6-1.7.toml', 'containerd-2.x.toml']) {
    const text = deploy(file);
    t.regex(text, /\[proxy_plugins\.tsov\]\s+type = "snapshot"\s+address = "\/run\/tsov\/tsov\.sock"/, file);
    t.regex(text, /snapshotter = "tsov"/, file);
    t.regex(text, /BinaryName = "\/usr\/local\/bin\/tsov-runtime"/, file);
    t.regex(text, /pod_annotations = \["dev\.gvisor\.\*"/, file);
  }
});

const CONTAINERD_FILES = ['containerd-1.6-1.7.toml', 'containerd-1.7-tsov-handler.toml', 'containerd-2.x.toml', 'containerd-2.x-tsov-handler.toml'];

test('every containerd file keeps containerd\'s runc handler as the default, exports tsov\'s root and says which cgroup driver it uses', (t) => {
  for (const file of CONTAINERD_FILES) {
    const text = deploy(file);
    t.regex(text, /default_runtime_name = "runc"/, file);
    t.regex(text, /\.runtimes\.runc\]\s+runtime_type = "io\.containerd\.runc\.v2"/, file);
    t.regex(text, /\[proxy_plugins\.tsov\.exports\]\s+root = "\/var\/lib\/tsov"/, file);
    t.notRegex(text, /^\s*SystemdCgroup = true/m, `${file}: cgroupfs, as the comments say`);
    t.regex(text, /cgroup driver/, file);
  }
  for (const file of CONTAINERD_FILES) {
    // containerd 1.x's mount code has no uidmap=: remap-ids only in the 2.x files (tsov install decides the same).
    t.is(/capabilities = \["remap-ids"\]/.test(deploy(file)), file.startsWith('containerd-2'), file);
  }
  for (const file of CONTAINERD_FILES.filter((name) => name.startsWith('containerd-2'))) {
    const text = deploy(file);
    for (const snapshotter of ['overlayfs', 'tsov']) {
      t.regex(text, new RegExp(`unpack_config\\]\\]\\s+platform = "linux/amd64"\\s+snapshotter = "${snapshotter}"`), `${file}: unpacks into ${snapshotter}`);
    }
  }
});
