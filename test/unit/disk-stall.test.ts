/**
 * When a daemon's health check calls its disk stalled, and what it says
 * (common/disk-stall.ts): the oldest sync that write calls wait for, against
 * the policy's disk_stall_seconds.
 */
import test from 'ava';
import { HELPER_WRITES, SNAPSHOTTER_WRITES, stalledReason } from '../../common/disk-stall';

const NOW = 100_000;

const ROWS: ReadonlyArray<[string, Array<number | undefined>, number, RegExp | undefined]> = [
  ['no sync running', [undefined, undefined], 1000, undefined],
  ['none at all', [], 1000, undefined],
  ['one running for less than the limit', [NOW - 999], 1000, undefined],
  ['one running for exactly the limit', [NOW - 1000], 1000, /^a write has waited 1 s for the disk/],
  ['one running past the limit', [NOW - 31_240], 30_000, /^a write has waited 31\.2 s for the disk/],
  ['the oldest of two counts', [NOW - 200, NOW - 5000], 1000, /waited 5 s/],
  ['one finished, one past the limit', [undefined, NOW - 2500], 1000, /waited 2\.5 s/],
];

for (const [name, since, limitMs, expected] of ROWS) {
  test(`stalledReason: ${name} → ${expected === undefined ? 'serving' : 'stalled'}`, (t) => {
    const reason = stalledReason(SNAPSHOTTER_WRITES, since, limitMs, NOW);
    if (expected === undefined) t.is(reason, undefined);
    else t.regex(reason ?? '', expected);
  });
}

test('the reason names what the daemon\'s writes wait for, who waits, and what to check', (t) => {
  t.is(
    stalledReason(SNAPSHOTTER_WRITES, [NOW - 3000], 1000, NOW),
    "a write has waited 3 s for the disk to make it durable (the snapshot metadata's fdatasync or the fsync of snapshots/): calls that change snapshots (Prepare, Commit, Remove) wait with it; check the disk or volume (dmesg, its state)",
  );
  t.is(
    stalledReason(HELPER_WRITES, [NOW - 3000], 1000, NOW),
    "a write has waited 3 s for the disk to make it durable (the mount journal's fdatasync): calls that mount or unmount (Mount, Unmount, Release) wait with it; check the disk or volume (dmesg, its state)",
  );
});
