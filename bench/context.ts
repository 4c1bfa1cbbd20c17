/** What every benchmark workload is given. */
export interface BenchContext {
  /** A fresh directory of its own, removed after the run. */
  workDir: string;
  /** Repetitions for per-call workloads (--runs). */
  runs: number;
  /** Duration of each timed load (--seconds). */
  seconds: number;
  /** Progress for people, on stderr. */
  log: (line: string) => void;
}

export type Workload = (context: BenchContext) => Promise<import('./stats').ResultRow[]>;
