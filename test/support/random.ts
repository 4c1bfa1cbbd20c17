/** A seeded, reproducible random source for fuzz and crash tests (mulberry32). The seed is printed by each test. */

export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/** TSOV_SEED from the environment (to replay a failure), else a fixed default. */
export function testSeed(fallback: number): number {
  const fromEnv = Number(process.env.TSOV_SEED);
  return Number.isInteger(fromEnv) ? fromEnv : fallback;
}
