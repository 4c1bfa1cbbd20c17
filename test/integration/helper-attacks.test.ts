/**
 * tsov-helper attacked by a local user who can make directories and symlinks
 * inside an allowed root (issue 13): symlinks whose targets hold the option
 * string's separators, and a path swapped between a directory and a symlink to
 * an outside directory while the helper checks and mounts it. The outside
 * directory holds a marker file; no mount may ever show it, and what mountinfo
 * and the journal name must be what is mounted.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { readMountInfo } from '../../common/mountinfo';
import { isPathWithin } from '../../common/path-within';
import type { OverlayMountRequest } from '../../helper/api/mount-request';
import { helperLayout, makeDirs, startHelper, type RunningHelper } from '../support/helper-process';
import { makeTempDir } from '../support/temp-dir';

const RACE_MS = 5_000;

interface Scene {
  base: string;
  helper: RunningHelper;
  root: string;
  /** A directory outside every allowed root, holding the file OUTSIDE. */
  outside: string;
}

async function scene(t: ExecutionContext, name: string, extraArgs: string[] = []): Promise<Scene> {
  const base = makeTempDir(t, name);
  const layout = helperLayout(base);
  const helper = await startHelper(t, layout, 'warn', extraArgs);
  const outside = makeDirs(path.join(base, 'outside'))[0]!;
  fs.writeFileSync(path.join(outside, 'OUTSIDE'), 'host data');
  return { base, helper, root: helper.root, outside };
}

const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: Error) => error.message);

/** Every helper mount in mountinfo below base, with its mount point and layers as the kernel names them. */
function helperMountsUnder(base: string) {
  return readMountInfo().filter((m) => m.source.startsWith('tsov-m') && isPathWithin(m.mountPoint, base));
}

test("a ':' in a symlink's target is refused: the kernel would split the lowerdir there and mount a directory relative to /", async (t) => {
  const { base, helper, root } = await scene(t, 'attack-colon');
  makeDirs(path.join(root, 'a:etc'), path.join(root, 'l2'), path.join(root, 'merged'));
  fs.symlinkSync('a:etc', path.join(root, 'link'));
  const message = await refusal(helper.client.mount({ owner: 'o', lowers: [path.join(root, 'link'), path.join(root, 'l2')], target: path.join(root, 'merged'), backend: 'kernel', choices: {} }));
  t.regex(message ?? 'mounted', /lowers\[0\]: ".*\/link" resolves to ".*\/a:etc", which contains ':', which separates lowerdir layers/);
  t.deepEqual(helperMountsUnder(base), []);
});

test("a ',' in a symlink's target is refused: it would append a second upperdir= to the option string", async (t) => {
  const { base, helper, root, outside } = await scene(t, 'attack-comma');
  const evil = `u,upperdir=${outside},workdir=${outside}`;
  makeDirs(path.join(root, evil), path.join(root, 'l1'), path.join(root, 'work'), path.join(root, 'merged'));
  fs.symlinkSync(evil, path.join(root, 'up'));
  const request: OverlayMountRequest = { owner: 'o', lowers: [path.join(root, 'l1')], upper: path.join(root, 'up'), work: path.join(root, 'work'), target: path.join(root, 'merged'), backend: 'kernel', choices: {} };
  const message = await refusal(helper.client.mount(request));
  t.regex(message ?? 'mounted', /upper: ".*\/up" resolves to ".*\/u,upperdir=.*", which contains ',' \(it separates mount options\) and contains '='/);
  t.deepEqual(helperMountsUnder(base), []);
  // The same through a symlinked parent of work, and as the target.
  fs.symlinkSync(evil, path.join(root, 'parent'));
  makeDirs(path.join(root, evil, 'w'));
  t.regex((await refusal(helper.client.mount({ ...request, upper: path.join(root, 'l1-up'), work: path.join(root, 'parent', 'w') }))) ?? 'mounted', /work: .* resolves to .*contains ','/);
  t.regex((await refusal(helper.client.mount({ ...request, upper: undefined, work: undefined, lowers: [path.join(root, 'l1'), path.join(root, 'work')], target: path.join(root, 'parent') }))) ?? 'mounted', /target: .* resolves to .*contains ','/);
  t.deepEqual(helperMountsUnder(base), []);
});

/**
 * A separate process that keeps swapping `name` between a real directory
 * inside the root and a symlink to the outside directory (both hold `inner`),
 * so that any path through `name` changes under the helper.
 */
function startSwapper(t: ExecutionContext, dir: string, outside: string, durationMs: number): Promise<number> {
  // A synchronous loop never yields to signal handlers, so it stops itself after durationMs.
  const script = `
    const fs = require('fs'), p = require('path');
    const [dir, outside, duration] = process.argv.slice(1);
    const name = p.join(dir, 'x'), real = p.join(dir, 'x.dir'), link = p.join(dir, 'x.link');
    fs.mkdirSync(p.join(real, 'inner'), { recursive: true });
    fs.writeFileSync(p.join(real, 'inner', 'INSIDE'), 'ok');
    fs.symlinkSync(outside, link);
    const end = Date.now() + Number(duration);
    let swaps = 0;
    while (Date.now() < end) {
      try { fs.renameSync(real, name); fs.renameSync(name, real); fs.renameSync(link, name); fs.renameSync(name, link); swaps++; } catch {}
    }
    process.stdout.write(String(swaps));`;
  fs.mkdirSync(path.join(outside, 'inner'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'inner', 'OUTSIDE'), 'host data');
  const child = spawn(process.execPath, ['-e', script, dir, outside, String(durationMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  t.teardown(() => child.kill('SIGKILL'));
  // 'close', not 'exit': the count is written just before the exit, and 'exit' can come before it is read.
  return new Promise<number>((resolve) => child.once('close', () => resolve(Number(out) || 0)));
}

interface RaceCount {
  mounted: number;
  refused: number;
  outside: string[];
}

/** Mounts through the swapped path for RACE_MS; every mount is inspected, then unmounted. */
async function race(t: ExecutionContext, s: Scene, backend: 'kernel' | 'fuse', withUpper: boolean): Promise<RaceCount> {
  const swapDir = makeDirs(path.join(s.root, 'swap'))[0]!;
  const other = makeDirs(path.join(s.root, 'l2'))[0]!;
  fs.writeFileSync(path.join(other, 'l2-file'), '');
  const swapped = startSwapper(t, swapDir, s.outside, RACE_MS);
  const count: RaceCount = { mounted: 0, refused: 0, outside: [] };
  const deadline = Date.now() + RACE_MS;
  for (let i = 0; Date.now() < deadline; i++) {
    const target = makeDirs(path.join(s.root, 'targets', String(i)))[0]!;
    const layers = withUpper
      ? { lowers: [path.join(swapDir, 'x', 'inner')], upper: makeDirs(path.join(s.root, 'up', String(i)))[0], work: makeDirs(path.join(s.root, 'work', String(i)))[0] }
      : { lowers: [path.join(swapDir, 'x', 'inner'), other] };
    let entry;
    try {
      entry = await s.helper.client.mount({ owner: 'race', ...layers, target, backend, choices: {} });
    } catch (error) {
      t.regex((error as Error).message, /outside the allowed roots|does not exist|cannot be resolved|changed between|fuse-overlayfs mount at .* failed/, 'a refusal says why');
      count.refused++;
      continue;
    }
    count.mounted++;
    const names = fs.readdirSync(entry.target);
    if (names.includes('OUTSIDE') || !names.includes('INSIDE')) count.outside.push(`mount ${entry.id} at ${entry.target} shows ${names.join(', ')}`);
    if (!entry.lowers.every((lower) => isPathWithin(lower, s.root))) count.outside.push(`journal of mount ${entry.id} names ${entry.lowers.join(':')}`);
    const shown = readMountInfo().find((m) => m.mountPoint === entry.target);
    if (shown === undefined || !isPathWithin(shown.mountPoint, s.root)) count.outside.push(`mount ${entry.id} is not at its target in mountinfo`);
    // Names are taken when the directory is opened (journal) and mounted (mountinfo); the swapper renames
    // x.dir to x and back meanwhile, so they are compared with that rename undone.
    const unrenamed = (p: string) => p.replace('/swap/x.dir/', '/swap/x/');
    const shownLowers = (shown?.superOptions ?? []).filter((o) => o.startsWith('lowerdir+=')).map((o) => o.slice('lowerdir+='.length));
    for (const [i, value] of shownLowers.entries()) {
      if (!isPathWithin(value, s.root)) count.outside.push(`mountinfo of mount ${entry.id} names ${value}`);
      if (unrenamed(value) !== unrenamed(entry.lowers[i]!)) count.outside.push(`mountinfo of mount ${entry.id} names ${value}, the journal ${entry.lowers[i]}`);
    }
    await s.helper.client.unmount(entry.id, 'race');
  }
  const swaps = await swapped;
  t.log(`${backend}${withUpper ? ' with an upper' : ''}: ${count.mounted} mounted, ${count.refused} refused in ${RACE_MS} ms while the path was swapped ${swaps} times`);
  t.true(swaps > 1000, 'the path really changed under the helper');
  return count;
}

for (const [api, backend, withUpper] of [
  ['auto', 'kernel', false],
  ['auto', 'kernel', true],
  ['legacy', 'kernel', true],
  ['auto', 'fuse', true],
] as const) {
  test.serial(`a path swapped with a symlink to outside while the helper checks and mounts it: ${backend}${withUpper ? ' with an upper' : ', read-only'}, --mount-api ${api}, ${RACE_MS / 1000} s: nothing outside is ever mounted`, async (t) => {
    const s = await scene(t, `attack-race-${api}-${backend}`, ['--mount-api', api]);
    const count = await race(t, s, backend, withUpper);
    t.deepEqual(count.outside, [], 'no mount showed the outside directory or named it');
    t.true(count.mounted > 0 && count.refused > 0, `both outcomes happened (${count.mounted} mounted, ${count.refused} refused)`);
    t.deepEqual(helperMountsUnder(s.base), [], 'every mount made in the race was unmounted');
    t.true(readMountInfo().every((m) => !isPathWithin(m.mountPoint, s.outside) && m.superOptions.every((o) => !o.includes(s.outside))), 'mountinfo names the outside directory nowhere');
  });
}
