import test from 'ava';
import { ratio, splitStalls } from '../../bench/stats';

// The remapped ctr run (bench/remap-workload.ts): runs ~2.5 s past the fastest are containerd's unmount retries, counted apart.
const stallCases: Array<[string, number[], number, number[]]> = [
  ['none stalled', [470, 458, 417, 407], 0, [470, 458, 417, 407]],
  ['built-in overlayfs in a --only remap run, three stalled', [469, 458, 2885, 2939, 417, 407, 2901, 454], 3, [469, 458, 417, 407, 454]],
  ['all but the fastest stalled', [2900, 2910, 400], 2, [400]],
  ['a slow run within the bound is not a stall', [400, 2400], 0, [400, 2400]],
  ['one sample', [2900], 0, [2900]],
];
for (const [name, samples, stalled, clean] of stallCases) {
  test(`splitStalls: ${name}`, (t) => {
    t.deepEqual(splitStalls(samples, 2000), { stalled, clean });
  });
}

test('ratio: counts of zero against zero are the same; a count against zero has no ratio; otherwise tsov / reference to 3 places', (t) => {
  const row = (tsov: number, reference: number) => ({ workload: 'w', metric: 'm', tsov, reference, unit: 'runs', lowerIsBetter: true });
  t.is(ratio(row(0, 0)), 1);
  t.is(ratio(row(3, 0)), Number.POSITIVE_INFINITY);
  t.is(ratio(row(0, 7)), 0);
  t.is(ratio(row(2, 3)), 0.667);
});
