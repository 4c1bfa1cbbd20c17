/**
 * Crash consistency of tsov-helper with live mounts: three clients mount
 * (kernel overlays with and without an upper, memory-backed ones) and unmount,
 * and the helper is killed with SIGKILL at a random moment, 20 times. After
 * every restart (journal reconciliation):
 *   - the helper lists exactly the tsov mounts the kernel has below the root
 *     (nothing leaked, nothing listed that is not mounted);
 *   - every acknowledged mount is still there, every acknowledged unmount stays gone;
 * and at the end releasing every owner leaves no mount behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { readMountInfo } from '../../common/mountinfo';
import { mountsUnder } from '../../harness/mounts';
import type { HelperClient } from '../../helper/api/helper-client';
import { helperLayout, makeDirs, startHelper } from '../support/helper-process';
import { Random, testSeed } from '../support/random';
import { makeTempDir } from '../support/temp-dir';

const SEED = testSeed(11);
const ROUNDS = 20;
const CLIENTS = 3;

interface Ledger {
  /** Mounts acknowledged and not unmounted, by id. */
  live: Map<number, { target: string; owner: string }>;
  /** Ids whose unmount was acknowledged. */
  unmounted: Set<number>;
  /** Targets of mounts or unmounts in flight at a crash: either outcome is allowed. */
  uncertain: Set<string>;
  owners: Set<string>;
}

/** Mount points of the helper's mounts below these directories as the kernel shows them: overlays (source tsov-m<id>) and memory tmpfs (tsov-m<id>-memory). */
function kernelMounts(dirs: readonly string[]): string[] {
  return readMountInfo()
    .filter((m) => dirs.some((dir) => m.mountPoint.startsWith(`${dir}/`)) && /^tsov-m\d+(-memory)?$/.test(m.source))
    .map((m) => m.mountPoint)
    .sort();
}

async function client(helper: HelperClient, ledger: Ledger, random: Random, root: string, lowers: string[], name: string, crashed: () => boolean): Promise<void> {
  for (let i = 0; !crashed(); i++) {
    const owner = `${name}-${random.int(3)}`;
    ledger.owners.add(owner);
    const live = [...ledger.live].filter(([, mount]) => mount.owner.startsWith(`${name}-`));
    if (live.length > 0 && random.chance(0.4)) {
      const [id, { target, owner: mountOwner }] = random.pick(live);
      ledger.uncertain.add(target);
      try {
        await helper.unmount(id, mountOwner);
        ledger.live.delete(id);
        ledger.unmounted.add(id);
        ledger.uncertain.delete(target);
      } catch {
        return; // the helper died under the call
      }
      continue;
    }
    const dir = path.join(root, 'work', owner, `m${i}-${random.int(1e9)}`);
    const [target, upper, workDir] = makeDirs(path.join(dir, 'target'), path.join(dir, 'upper'), path.join(dir, 'work'));
    const kind = random.int(3);
    ledger.uncertain.add(target!);
    try {
      const view = await helper.mount({
        owner,
        lowers: lowers.slice(0, 2 + random.int(lowers.length - 1)),
        ...(kind === 0 ? { upper: upper!, work: workDir! } : {}),
        target: target!,
        backend: kind === 2 ? 'memory' : 'kernel',
        ...(kind === 2 ? { memoryBytes: 4 * 1024 * 1024 } : {}),
        choices: {},
      });
      ledger.live.set(view.id, { target: target!, owner });
      ledger.uncertain.delete(target!);
    } catch {
      return;
    }
  }
}

test(`kill -9 at ${ROUNDS} random moments under ${CLIENTS} clients mounting and unmounting: journal and kernel agree after each restart (seed ${SEED})`, async (t) => {
  t.timeout(300_000);
  const base = makeTempDir(t, 'helper-crash');
  const layout = helperLayout(base);
  const root = layout.roots[0]!;
  const lowers = makeDirs(...['l1', 'l2', 'l3'].map((d) => path.join(root, 'layers', d)));
  lowers.forEach((dir, i) => fs.writeFileSync(path.join(dir, `from-${i}`), `${i}\n`));
  const random = new Random(SEED);
  const ledger: Ledger = { live: new Map(), unmounted: new Set(), uncertain: new Set(), owners: new Set() };
  const problems: string[] = [];
  let acknowledgedMounts = 0;
  let inFlightAtCrashes = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const helper = await startHelper(t, layout);
    const listed = await helper.client.list();
    const listedTargets = listed.map((m) => m.target);
    // Memory mounts also have their tmpfs below the root: the kernel shows both.
    const expectedKernel = [...listedTargets, ...listed.map((m) => m.memoryDirectory).filter((d) => d !== '')].sort();
    const kernel = kernelMounts([root, layout.stateDir]);
    if (JSON.stringify(kernel) !== JSON.stringify(expectedKernel)) problems.push(`round ${round}: kernel has ${JSON.stringify(kernel)}, helper lists ${JSON.stringify(expectedKernel)}`);
    for (const m of listed) if (m.state !== 'mounted') problems.push(`round ${round}: mount ${m.id} listed as ${m.state}`);
    for (const [id, { target }] of ledger.live) {
      if (!ledger.uncertain.has(target) && !listed.some((m) => m.id === id)) problems.push(`round ${round}: acknowledged mount ${id} at ${target} is gone`);
    }
    for (const id of ledger.unmounted) if (listed.some((m) => m.id === id)) problems.push(`round ${round}: acknowledged unmount of ${id} came back`);
    // What the helper kept is now known; mounts in flight at the crash are settled.
    ledger.live = new Map(listed.map((m) => [m.id, { target: m.target, owner: m.owner }]));
    inFlightAtCrashes += ledger.uncertain.size;
    ledger.uncertain.clear();
    acknowledgedMounts = Math.max(acknowledgedMounts, ledger.live.size);

    let crashed = false;
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(helper.client, ledger, new Random(random.int(2 ** 31)), root, lowers, `c${c}`, () => crashed));
    await new Promise((resolve) => setTimeout(resolve, 150 + random.int(600)));
    crashed = true;
    t.is(await helper.stop('SIGKILL'), 'SIGKILL');
    await Promise.all(clients);
  }

  const last = await startHelper(t, layout);
  const survivors = (await last.client.list()).length;
  for (const owner of ledger.owners) await last.client.release(owner);
  t.deepEqual([...mountsUnder(root), ...mountsUnder(layout.stateDir)], [], 'releasing every owner leaves no mount');
  t.log(`seed ${SEED}: ${ROUNDS} crashes, ${inFlightAtCrashes} mounts/unmounts caught in flight, ${ledger.unmounted.size} acknowledged unmounts, up to ${acknowledgedMounts} live mounts at a restart, ${survivors} at the end`);
  t.deepEqual(problems, []);
  t.true(inFlightAtCrashes > 0, 'the kills interrupted calls in flight');
});
