/**
 * Counters of everything the gateway does or refuses, keyed by name (e.g. `readings.rejected.READING_DUPLICATE`).
 * Published in the status message and logged periodically; never contains a reading's value.
 */
export class Metrics {
  private readonly counters = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
