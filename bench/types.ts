/** One measured figure, always reported next to a baseline measured in the same run. */
export interface BenchResult {
  name: string;
  figure: string;
  baseline: string;
  ratio: number;
  target?: string;
  ok?: boolean;
}

/** A benchmark: `bench/<area>.bench.ts` exports `export const benches: Bench[]`. */
export interface Bench {
  name: string;
  run(): Promise<BenchResult[]>;
}
