/**
 * The snapshotter's wall clock (snapshotter/clock.ts) over scripted clocks, and
 * the real one in processes started under load, as containerd's conformance
 * suite starts them (its checkUpdate, snapshots/testsuite/testsuite.go, wants
 * each created and updated time between two time.Now() readings around the call).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { MAX_SPIN_MS, MAX_TICKS, measureOffset, TICK_GAP_MS, wallClock, type ClockSources } from '../../snapshotter/clock';

/**
 * Simulated time: every read advances it by `readMs` (and by `stallMs` on the
 * reads listed in `stallOn`); the wall clock is the true time plus `wallStepMs`,
 * floored to the millisecond as Date.now() is.
 */
function scripted(options: { readMs: number; stallOn?: Set<number>; stallMs?: number }) {
  // Small values, so that steps of 0.4 us are exact enough in a double.
  let trueMs = 10_000.25;
  const monoOrigin = trueMs - 5_000.123;
  let reads = 0;
  let wallStepMs = 0;
  const advance = () => {
    reads++;
    trueMs += options.readMs + (options.stallOn?.has(reads) ? options.stallMs ?? 0 : 0);
  };
  const sources: ClockSources = {
    wallMs: () => {
      advance();
      return Math.floor(trueMs + wallStepMs);
    },
    monotonicMs: () => {
      advance();
      return trueMs - monoOrigin;
    },
  };
  return {
    sources,
    wallNow: () => trueMs + wallStepMs,
    stepWall: (ms: number) => (wallStepMs += ms),
    idle: (ms: number) => (trueMs += ms),
    reads: () => reads,
    /** wall − monotonic, exactly. */
    trueOffset: () => monoOrigin + wallStepMs,
  };
}

// The first tick comes after 1,875 reads of 0.4 us (the time starts 0.25 ms into a millisecond).
// A tick is bracketed by five reads: the offset is at most five reads behind.
const cases: Array<{ name: string; readMs: number; stallOn?: Set<number>; stallMs?: number; behindAtMostMs: number; minReads?: number }> = [
  { name: 'fast reads: the first tick is close enough', readMs: 0.0004, behindAtMostMs: 5 * 0.0004 },
  { name: 'a stall at the first tick: a later, closer tick is used', readMs: 0.0004, stallOn: new Set([1861, 1862]), stallMs: 0.3, behindAtMostMs: TICK_GAP_MS, minReads: 2_500 },
  { name: 'reads slower than the gap: the closest of the ticks seen', readMs: 0.004, behindAtMostMs: 5 * 0.004 },
];

for (const c of cases) {
  test(`offset at a tick, never ahead: ${c.name}`, (t) => {
    const clock = scripted(c);
    const trueOffset = clock.trueOffset();
    const measured = measureOffset(clock.sources);
    t.true(measured <= trueOffset + 1e-9, `measured ${measured} ahead of ${trueOffset}`);
    t.true(trueOffset - measured <= c.behindAtMostMs + 1e-9, `behind by ${trueOffset - measured} ms`);
    t.true(clock.reads() >= (c.minReads ?? 0), `${clock.reads()} reads`);
  });
}

test('measureOffset waits for MAX_TICKS ticks, no more, when no tick is close', (t) => {
  const clock = scripted({ readMs: 0.02 });
  measureOffset(clock.sources);
  // Reads of 20 us: 50 per millisecond, one tick each; five reads bracket a tick (0.1 ms > TICK_GAP_MS).
  const ticks = clock.reads() / 50;
  t.true(ticks >= MAX_TICKS - 1 && ticks <= MAX_TICKS + 1, `${clock.reads()} reads`);
});

test('measureOffset settles for whole milliseconds, never ahead, when the wall clock does not tick', (t) => {
  let mono = 0;
  const frozenWall = 1_000_000;
  const measured = measureOffset({ wallMs: () => frozenWall, monotonicMs: () => (mono += 0.001) });
  t.true(mono >= MAX_SPIN_MS && mono < MAX_SPIN_MS + 1, `spun ${mono} ms`);
  // The wall clock reads 1,000,000 ms however long it runs: the offset is then at most that.
  t.true(measured + mono <= frozenWall + 1e-9, `${measured + mono}`);
});

test('wallClock readings are never ahead of the wall clock, and at most the tick gap behind', (t) => {
  const clock = scripted({ readMs: 0.0005 });
  const read = wallClock(clock.sources);
  for (let i = 0; i < 5_000; i++) {
    const before = clock.wallNow();
    const us = read();
    const after = clock.wallNow();
    t.true(us <= Math.ceil(after * 1000), `reading ${i} ahead: ${us} > ${after * 1000}`);
    t.true(us >= (before - TICK_GAP_MS) * 1000, `reading ${i} behind: ${us} < ${before * 1000}`);
    clock.idle(0.0137);
  }
});

/**
 * Steps of the wall clock. A step back is seen at the first reading that
 * passes Date.now()'s millisecond: at once for a step of a millisecond or more,
 * within a millisecond of readings for a smaller one (NTP steps only past
 * 128 ms; smaller corrections slew both clocks alike). A step forward of less
 * than STEP_FORWARD_MS is not measured again: Date.now() bounds the reading.
 */
const steps: Array<{ name: string; stepMs: number; aheadReadings: number; behindSlackMs: number }> = [
  { name: 'stepped back 5 ms', stepMs: -5, aheadReadings: 0, behindSlackMs: TICK_GAP_MS },
  { name: 'stepped back 0.3 ms', stepMs: -0.3, aheadReadings: 20, behindSlackMs: TICK_GAP_MS },
  { name: 'stepped forward 0.5 ms', stepMs: 0.5, aheadReadings: 0, behindSlackMs: 1 },
  { name: 'stepped forward 3 s', stepMs: 3_000, aheadReadings: 0, behindSlackMs: TICK_GAP_MS },
];

for (const s of steps) {
  test(`wallClock follows a wall clock ${s.name}`, (t) => {
    const clock = scripted({ readMs: 0.0005 });
    const read = wallClock(clock.sources);
    read();
    clock.idle(2.5);
    clock.stepWall(s.stepMs);
    const ahead: number[] = [];
    for (let i = 0; i < 60; i++) {
      const before = clock.wallNow();
      const us = read();
      const after = clock.wallNow();
      if (us > Math.ceil(after * 1000)) ahead.push(i);
      t.true(us >= (before - s.behindSlackMs) * 1000, `reading ${i} behind by ${before - us / 1000} ms`);
      clock.idle(0.05);
    }
    // Once a reading has been found ahead and measured again, none is.
    t.true(ahead.length <= s.aheadReadings, `readings ahead: ${ahead.join(' ')}`);
    t.deepEqual(ahead, ahead.length === 0 ? [] : Array.from({ length: ahead.length }, (_, i) => i), 'only the first readings');
  });
}

/**
 * The real clock in fresh processes started together beside CPU spinners: the
 * reading between two Date.now() calls must not pass the later one's
 * millisecond. performance.timeOrigin + performance.now(), the clock before,
 * passed it in every such process by 7-40 us (timeOrigin is read after
 * the monotonic origin; 0.8 ms apart at worst in processes started under load).
 */
test('the real clock is never ahead of Date.now() in processes started under load', async (t) => {
  const script = `
    const { systemClock } = require(${JSON.stringify(require.resolve('../../snapshotter/clock'))});
    let worstAheadUs = -Infinity;
    for (let i = 0; i < 20000; i++) {
      const us = systemClock();
      const after = Date.now();
      worstAheadUs = Math.max(worstAheadUs, us - (after + 1) * 1000);
    }
    process.stdout.write(String(worstAheadUs));`;
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
    });
  const spinners = Array.from({ length: 3 }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    const worst = (await Promise.all(Array.from({ length: 12 }, () => run(['-e', script])))).map(Number);
    t.log(`worst reading past Date.now()'s millisecond, per process (us): ${worst.map((w) => w.toFixed(1)).join(' ')}`);
    for (const w of worst) t.true(w <= 0, `a reading ${w} us past the wall clock`);
  } finally {
    for (const s of spinners) s.kill('SIGKILL');
  }
});
