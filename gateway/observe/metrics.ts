/**
 * Counters of everything the gateway does or refuses, keyed by name (e.g. `readings.rejected.READING_DUPLICATE`),
 * and latency samples (the last `SAMPLES` of each, so memory stays bounded). Published in the status message and
 * logged periodically; never contains a reading's value.
 */
const SAMPLES = 10_000;

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly samples = new Map<string, { values: Float64Array; next: number; total: number }>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** Records one latency sample (ms). */
  observe(name: string, value: number): void {
    let s = this.samples.get(name);
    if (!s) this.samples.set(name, (s = { values: new Float64Array(SAMPLES), next: 0, total: 0 }));
    s.values[s.next] = value;
    s.next = (s.next + 1) % SAMPLES;
    s.total++;
  }

  /** Percentiles over the last samples of `name`, or undefined when there are none. */
  percentiles(name: string): Percentiles | undefined {
    const s = this.samples.get(name);
    if (!s || s.total === 0) return undefined;
    const sorted = Array.from(s.values.subarray(0, Math.min(s.total, SAMPLES))).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { count: s.total, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
