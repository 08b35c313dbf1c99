/**
 * Repeated identical warnings, rate-limited (issue #20: 569 `acknowledgement not applied` lines in ten minutes
 * buried everything else). The first occurrence of a key is logged; then at most one line per period, saying how
 * many were held back since. Counters (`metrics.ts`) still count every occurrence.
 */
import type { Clock } from '../time/clock.ts';

/** Keys remembered at most: keys are a handful of fixed strings; this only bounds a mistake. */
const MAX_KEYS = 256;

export class LogThrottle {
  private readonly seen = new Map<string, { since: number; held: number }>();

  constructor(
    /** Elapsed (monotonic) time. */
    private readonly clock: Clock,
    private readonly periodMs = 10 * 60_000,
  ) {}

  /**
   * Calls `emit(repeats)` for the first `key`, then once per period while it recurs, with the number of
   * occurrences held back since the previous line (0 for the first).
   */
  hit(key: string, emit: (repeats: number) => void): void {
    const now = this.clock.now();
    const s = this.seen.get(key);
    if (!s) {
      if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value!);
      this.seen.set(key, { since: now, held: 0 });
      emit(0);
      return;
    }
    s.held++;
    if (now - s.since < this.periodMs) return;
    emit(s.held);
    s.since = now;
    s.held = 0;
  }

  /** Forgets the keys starting with `prefix`: the episode they belonged to is over, the next one is news. */
  forget(prefix: string): void {
    for (const key of [...this.seen.keys()]) if (key.startsWith(prefix)) this.seen.delete(key);
  }
}
