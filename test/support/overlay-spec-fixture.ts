/**
 * A running tsov-helper, a policy pointing at it, and an OCI spec with one
 * `type: overlay` entry (two lowers, upper, work) under the helper's allowed root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { CLI_MAIN } from '../../harness/daemon-process';
import type { OciSpec } from '../../translator/spec/oci-spec';
import { helperLayout, makeDirs, startHelper } from './helper-process';
import { makeTempDir } from './temp-dir';

export async function overlaySpecFixture(t: ExecutionContext, extraPolicy = '') {
  const base = makeTempDir(t, 'translate');
  const layout = helperLayout(base);
  const root = layout.roots[0]!;
  const helper = await startHelper(t, layout);
  const [l1, l2, upper, work] = makeDirs(...['l1', 'l2', 'upper', 'work'].map((d) => path.join(root, d)));
  const policy = path.join(base, 'policy.yaml');
  fs.writeFileSync(
    policy,
    `helper:\n  socket: ${layout.socket}\n  allowed_roots: [${root}]\ntranslation:\n  state_dir: ${path.join(root, 'mounts')}\n${extraPolicy}`,
  );
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: { args: ['true'] },
    root: { path: 'rootfs' },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/ov', type: 'overlay', source: 'overlay', options: [`lowerdir=${l1}:${l2}`, `upperdir=${upper}`, `workdir=${work}`] },
    ],
  };
  const specFile = path.join(base, 'config.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const tsov = (...args: string[]) => spawnSync(process.execPath, [CLI_MAIN, '--config', policy, ...args], { encoding: 'utf8' });
  return { base, root, layout, helper, policy, spec, specFile, tsov, upper: upper! };
}
