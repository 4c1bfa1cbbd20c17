/**
 * tsov-runtime killed with SIGKILL after tsov-helper mounted a container's
 * overlay and while the real runtime had not created the container yet (the
 * real runtime here is a script that stops at `create`). No mount may leak:
 * `tsov-runtime delete` releases it, and so does the helper's next start when
 * nobody calls delete (the container's runtime state directory never appeared).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RUNTIME_MAIN } from '../../harness/daemon-process';
import { mountsUnder } from '../../harness/mounts';
import { waitFor } from '../../harness/wait';
import { makeDirs, startHelper, type RunningHelper } from '../support/helper-process';
import { overlaySpecFixture } from '../support/overlay-spec-fixture';

/** Starts `tsov-runtime create` for `id` and kills it (and the stalled real runtime) once the real runtime runs. */
async function killDuringCreate(base: string, policy: string, spec: object, id: string, helper: RunningHelper): Promise<void> {
  const bundle = makeDirs(path.join(base, `bundle-${id}`))[0]!;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const started = path.join(base, `${id}.real-runtime-started`);
  const env = { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache'), STARTED: started };
  const child: ChildProcess = spawn(RUNTIME_MAIN, ['--root', path.join(base, 'runc-root'), 'create', '--bundle', bundle, id], { env, detached: true, stdio: 'ignore' });
  try {
    await waitFor(`the real runtime to start for ${id}`, () => fs.existsSync(started));
    const mounts = await helper.client.list();
    if (!mounts.some((m) => m.owner === id)) throw new Error(`no helper mount for ${id} before the kill`);
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL'); // tsov-runtime and the real runtime it started
  }
}

test('tsov-runtime killed between the helper mount and the container: delete releases, or the next helper start does', async (t) => {
  const { base, root, layout, policy, spec, helper } = await overlaySpecFixture(t);
  const stalled = path.join(base, 'stalling-runc');
  fs.writeFileSync(stalled, '#!/bin/sh\ncase " $* " in\n  *" create "*) touch "$STARTED"; exec sleep 60 ;;\n  *) exec runc "$@" ;;\nesac\n', { mode: 0o755 });
  fs.appendFileSync(policy, `runtime:\n  binary: ${stalled}\n`);
  const env = { ...process.env, TSOV_CONFIG: policy, TSOV_RUNTIME_CACHE: path.join(base, 'cache') };

  await killDuringCreate(base, policy, spec, 'killed-1', helper);
  t.is(mountsUnder(root).length, 1, 'the overlay is mounted and its owner gone');
  const deleted = spawnSync(RUNTIME_MAIN, ['--root', path.join(base, 'runc-root'), 'delete', 'killed-1'], { encoding: 'utf8', env });
  // runc's own answer stays (the container was never created); the mount goes regardless.
  t.regex(deleted.stderr, /container does not exist/);
  t.deepEqual(mountsUnder(root), [], 'delete released the mount');
  t.deepEqual(await helper.client.list(), []);

  // The kernel leaves its work/ subdirectory in workdir, and the helper wants an empty one.
  const workdir = spec.mounts!.flatMap((m) => m.options ?? []).find((o) => o.startsWith('workdir='))!.slice('workdir='.length);
  fs.rmSync(workdir, { recursive: true });
  fs.mkdirSync(workdir);
  await killDuringCreate(base, policy, spec, 'killed-2', helper);
  t.is(mountsUnder(root).length, 1);
  await helper.stop('SIGKILL');
  const restarted = await startHelper(t, layout, 'info');
  t.deepEqual(await restarted.client.list(), [], 'the owner never got a runtime state directory: released at start');
  t.deepEqual(mountsUnder(root), []);
  t.regex(restarted.stderr(), /releas/i);
});
