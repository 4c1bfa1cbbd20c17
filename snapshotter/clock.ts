/**
 * Wall-clock time in whole microseconds, for snapshots' created and updated
 * times.
 *
 * containerd's conformance suite (snapshots/testsuite/testsuite.go,
 * checkUpdate) checks that these times fall between two times it takes with
 * Go's time.Now() just before and just after the call, to the nanosecond. So
 * the time must never be ahead of the wall clock, and must have better than
 * millisecond precision, which Date.now() does not give.
 *
 * `performance.timeOrigin + performance.now()` is not that clock: Node reads
 * the wall clock for timeOrigin some time after the monotonic origin, and the
 * sum runs ahead of the wall clock by that gap: ~20 us on this machine when
 * idle, up to 0.8 ms for processes started under load (21 at once beside CPU
 * spinners, as the conformance suite starts them), more than an Update's reply
 * takes to reach the caller.
 *
 * So the offset between the wall clock and the monotonic one is measured at a
 * tick of the wall clock, where its millisecond value changes, and taken at its
 * lower bound: the time is never ahead of the wall clock and at most
 * TICK_GAP_MS behind it. Each reading is checked against Date.now() and
 * the offset measured again when the wall clock was stepped: at once for a
 * step back of a millisecond or more, at the first reading that passes
 * Date.now()'s millisecond for a smaller one (NTP steps the clock only past
 * 128 ms and slews smaller corrections, which moves both clocks alike). A step
 * forward of less than STEP_FORWARD_MS is bounded by Date.now() instead.
 */
import { performance } from 'node:perf_hooks';

export type Microseconds = number;

export type Clock = () => Microseconds;

export interface ClockSources {
  /** The wall clock in whole milliseconds (Date.now). */
  wallMs(): number;
  /** A monotonic clock in fractional milliseconds (performance.now). */
  monotonicMs(): number;
}

/** A tick is used when the reads around it are at most this far apart (ms). */
export const TICK_GAP_MS = 0.01;

/** Ticks waited for a close one before the closest seen is used (1 ms each). */
export const MAX_TICKS = 20;

/** How long (ms) measureOffset waits for a first tick before it settles for whole milliseconds. */
export const MAX_SPIN_MS = 50;

/** A reading this far (ms) behind Date.now() means the wall clock was stepped forward. */
export const STEP_FORWARD_MS = 1;

/**
 * wall − monotonic (ms), never more than the true offset. Each pass reads the
 * monotonic clock, the wall clock, the monotonic clock. When the wall clock's
 * value changes between two passes, its tick happened after the first pass's
 * first read and before this pass's last: the offset is at least
 * wall − (this pass's last read), and at most TICK_GAP_MS more when the two
 * reads are that close.
 */
export function measureOffset(sources: ClockSources): number {
  let best: { offset: number; gap: number } | undefined;
  let before = sources.monotonicMs();
  const giveUpAt = before + MAX_SPIN_MS;
  let wall = sources.wallMs();
  for (let ticks = 0; ticks < MAX_TICKS; ) {
    const start = sources.monotonicMs();
    const now = sources.wallMs();
    const end = sources.monotonicMs();
    // A wall clock that does not tick (it never should): its value, whole milliseconds, is still never ahead.
    if (best === undefined && end >= giveUpAt) return now - end;
    if (now !== wall) {
      ticks++;
      const gap = end - before;
      if (best === undefined || gap < best.gap) best = { offset: now - end, gap };
      if (gap <= TICK_GAP_MS) break;
    }
    wall = now;
    before = start;
  }
  return best!.offset;
}

/** A clock over the given sources; measures its offset at the first reading. */
export function wallClock(sources: ClockSources): Clock {
  let offset: number | undefined;
  return () => {
    offset ??= measureOffset(sources);
    let ms = offset + sources.monotonicMs();
    const wall = sources.wallMs();
    if (ms >= wall + 1 || ms < wall - STEP_FORWARD_MS) {
      offset = measureOffset(sources);
      ms = offset + sources.monotonicMs();
    }
    // Date.now() was read after the monotonic clock: the time then was at least `wall`.
    return Math.ceil(Math.max(ms, wall) * 1000);
  };
}

export const systemClock: Clock = wallClock({ wallMs: Date.now, monotonicMs: () => performance.now() });

/** A protobuf Timestamp for a time in microseconds since the epoch. */
export function toTimestamp(us: Microseconds): { seconds: number; nanos: number } {
  const seconds = Math.floor(us / 1_000_000);
  return { seconds, nanos: (us - seconds * 1_000_000) * 1000 };
}
