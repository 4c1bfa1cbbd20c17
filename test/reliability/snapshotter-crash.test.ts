/**
 * Crash consistency of tsov-snapshotter: four clients run a mixed, seeded
 * workload (Prepare, Commit, View, Update, Remove) and the daemon is killed
 * with SIGKILL at a random moment, 20 times. After every restart:
 *   - every acknowledged Commit is there and committed, every acknowledged Remove stays removed;
 *   - every metadata record has its directory; after Cleanup every directory is named by a record;
 *   - ids handed out after the crash are above every id acknowledged before it (never reused);
 * and at the end a real containerd, connected through all the crashes, still runs
 * a container from an image it imported before the first one.
 */
import { status } from '@grpc/grpc-js';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { buildImageArchive } from '../../harness/oci-image';
import { waitFor } from '../../harness/wait';
import type { MountSpec } from '../../common/overlay-mounts';
import { startTestContainerd } from '../support/containerd';
import { Random, testSeed } from '../support/random';
import { SnapshotsClient } from '../support/snapshots-client';
import { startSnapshotter, type RunningSnapshotter } from '../support/snapshotter-process';
import { makeTempDir } from '../support/temp-dir';
import { recordIds, unexpectedDirectories } from '../support/snapshot-directories';

const SEED = testSeed(7);
const ROUNDS = 20;
const CLIENTS = 4;

/** What the clients were told, so what must survive. */
class Ledger {
  readonly committed = new Set<string>();
  readonly removed = new Set<string>();
  /** Names whose last operation was in flight at a crash: either outcome is allowed. */
  readonly uncertain = new Set<string>();
  readonly acknowledgedIds = new Set<number>();
  maxIdBeforeCrash = 0;

  parentFor(random: Random): string {
    const candidates = [...this.committed].filter((name) => !this.uncertain.has(name));
    return candidates.length === 0 || random.chance(0.2) ? '' : random.pick(candidates);
  }
}

/** The new snapshot's id in the mounts Prepare returns: the upperdir, or the bind source without a parent. */
function snapshotId(mounts: MountSpec[]): number {
  const upper = mounts[0]?.options.find((o) => o.startsWith('upperdir='));
  const where = upper ?? mounts[0]?.source ?? '';
  const match = /\/snapshots\/(\d+)\/fs/.exec(where);
  if (match === null) throw new Error(`no snapshot directory in the mounts Prepare returned: ${JSON.stringify(mounts)}`);
  return Number(match[1]);
}

function errorCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

async function workload(client: SnapshotsClient, ledger: Ledger, random: Random, prefix: string, crashed: () => boolean, unexpected: string[]): Promise<void> {
  for (let i = 0; !crashed(); i++) {
    const key = `${prefix}-${i}`;
    let inFlight: string[] = [key];
    try {
      const choice = random.int(10);
      if (choice < 6) {
        const parent = ledger.parentFor(random);
        const mounts = await client.prepare(key, parent, { round: prefix });
        recordId(ledger, mounts, key, unexpected, parent === '' ? 'bind' : 'overlay');
        if (random.chance(0.8)) {
          const name = `${key}-c`;
          inFlight = [key, name];
          await client.commit(name, key, { committed: 'yes' });
          ledger.committed.add(name);
        }
      } else if (choice < 7) {
        const parent = ledger.parentFor(random);
        if (parent === '') continue;
        await client.view(key, parent);
        await client.remove(key);
      } else if (choice < 8) {
        const name = ledger.parentFor(random);
        if (name === '') continue;
        inFlight = [name];
        await client.update({ name, labels: { touched: String(i) } }, ['labels.touched']);
      } else {
        const name = ledger.parentFor(random);
        if (name === '') continue;
        inFlight = [name];
        ledger.uncertain.add(name); // no new child may pick it while the Remove runs
        await client.remove(name);
        ledger.committed.delete(name);
        ledger.removed.add(name);
        ledger.uncertain.delete(name);
      }
    } catch (error) {
      if (crashed()) {
        inFlight.forEach((name) => ledger.uncertain.add(name));
        return;
      }
      // A parent with children cannot be removed; another client may have removed a parent first.
      const code = errorCode(error);
      inFlight.forEach((name) => ledger.uncertain.delete(name));
      if (code !== status.FAILED_PRECONDITION && code !== status.NOT_FOUND) unexpected.push(`${key}: ${(error as Error).message}`);
    }
  }
}

function recordId(ledger: Ledger, mounts: MountSpec[], key: string, unexpected: string[], kind: string): void {
  const id = snapshotId(mounts);
  if (ledger.acknowledgedIds.has(id)) unexpected.push(`${key}: id ${id} was handed out before`);
  if (id <= ledger.maxIdBeforeCrash) unexpected.push(`${key}: id ${id} is not above ${ledger.maxIdBeforeCrash}, the highest id acknowledged before the last crash (${kind})`);
  ledger.acknowledgedIds.add(id);
}

function directoryNames(root: string): string[] {
  return fs.readdirSync(path.join(root, 'snapshots'));
}

test(`kill -9 at ${ROUNDS} random moments under a mixed workload of ${CLIENTS} clients: nothing acknowledged is lost (seed ${SEED})`, async (t) => {
  t.timeout(300_000);
  const random = new Random(SEED);
  const dir = makeTempDir(t, 'crash');
  const root = path.join(dir, 'tsov');
  const socket = path.join(dir, 'tsov.sock');
  let snapshotter: RunningSnapshotter = await startSnapshotter(t, root, socket);
  const containerd = await startTestContainerd(t, path.join(dir, 'containerd'), socket);
  const image = 'docker.io/tsov/test:crash';
  await containerd.ctr(['images', 'import', '--snapshotter', 'tsov', buildImageArchive(path.join(dir, 'image'), image, [[{ file: '/before-crashes', content: 'imported before the crashes\n' }]])]);

  const ledger = new Ledger();
  const unexpected: string[] = [];
  let killedInFlight = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let crashed = false;
    const clients = Array.from({ length: CLIENTS }, () => new SnapshotsClient(socket));
    const workers = clients.map((client, w) => workload(client, ledger, new Random(SEED * 1000 + round * 10 + w), `r${round}w${w}`, () => crashed, unexpected));
    await new Promise((resolve) => setTimeout(resolve, 50 + random.int(400)));
    crashed = true;
    await snapshotter.stop('SIGKILL');
    await Promise.all(workers);
    clients.forEach((client) => client.close());
    killedInFlight += ledger.uncertain.size;
    ledger.maxIdBeforeCrash = Math.max(0, ...ledger.acknowledgedIds);

    // The dead daemon's state: every record has its directory (temp directories may be left).
    const ids = recordIds(root);
    const dirs = new Set(directoryNames(root));
    for (const id of ids) if (!dirs.has(String(id))) unexpected.push(`round ${round}: record ${id} has no directory`);

    snapshotter = await startSnapshotter(t, root, socket);
    const client = snapshotter.client;
    for (const name of ledger.committed) {
      if (ledger.uncertain.has(name)) continue;
      const info = await client.stat(name).catch((error: Error) => error);
      if (info instanceof Error || info.kind !== 'COMMITTED') unexpected.push(`round ${round}: acknowledged commit ${name} is ${info instanceof Error ? info.message : info.kind}`);
    }
    for (const name of ledger.removed) {
      if (ledger.uncertain.has(name)) continue;
      const code = await client.stat(name).then(() => status.OK, errorCode);
      if (code !== status.NOT_FOUND) unexpected.push(`round ${round}: acknowledged remove of ${name} came back`);
    }
    // Settle the in-flight names: from now on they are whatever the restarted daemon says.
    for (const name of ledger.uncertain) {
      const exists = await client.stat(name).then((info) => info.kind === 'COMMITTED', () => false);
      if (exists) ledger.committed.add(name);
      else ledger.committed.delete(name);
    }
    ledger.uncertain.clear();
    await client.cleanup();
    // Cleanup removes every directory no record names but the spares the restarted daemon keeps for Prepare.
    for (const what of unexpectedDirectories(root)) unexpected.push(`round ${round}: left after Cleanup, named by no record: ${what}`);
    const after = new Set(recordIds(root).map(String));
    for (const id of after) if (!fs.existsSync(path.join(root, 'snapshots', id, 'fs'))) unexpected.push(`round ${round}: record ${id} has no fs directory after Cleanup`);
  }
  t.deepEqual(unexpected, []);
  t.true(ledger.acknowledgedIds.size > ROUNDS * CLIENTS, `${ledger.acknowledgedIds.size} snapshots were acknowledged`);
  t.log(`seed ${SEED}: ${ROUNDS} crashes, ${ledger.acknowledgedIds.size} snapshots acknowledged, ${ledger.committed.size} committed alive, ${ledger.removed.size} removed, ${killedInFlight} operations caught in flight`);

  // containerd's proxy client reconnects with a backoff after 20 lost connections; wait for it.
  await waitFor('containerd to reconnect to the restarted tsov-snapshotter', () =>
    containerd.ctr(['snapshots', '--snapshotter', 'tsov', 'ls']).then(() => true, () => false), 60_000, 500);
  const output = await containerd.runCaptured('after-crashes', image, ['/bin/cat', '/before-crashes'], ['--snapshotter', 'tsov']);
  t.is(output.trim(), 'imported before the crashes');
});
