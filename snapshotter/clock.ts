/**
 * Wall-clock time in whole microseconds. containerd's conformance suite checks
 * that created/updated times fall between two times it takes in Go with
 * nanosecond precision, so the value is rounded up, never down: it is then
 * never earlier than a time taken before the call.
 */
import { performance } from 'node:perf_hooks';

export type Microseconds = number;

export type Clock = () => Microseconds;

export const systemClock: Clock = () => Math.ceil((performance.timeOrigin + performance.now()) * 1000);

/** A protobuf Timestamp for a time in microseconds since the epoch. */
export function toTimestamp(us: Microseconds): { seconds: number; nanos: number } {
  const seconds = Math.floor(us / 1_000_000);
  return { seconds, nanos: (us - seconds * 1_000_000) * 1000 };
}
