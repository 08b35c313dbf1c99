/** Timers a test fires by hand (the `Timers` of scripts/lib/mdms/authority-client.ts): nothing waits for real. */
import type { Timers } from '../../scripts/lib/mdms/authority-client.ts';

export class ManualTimers implements Timers {
  private readonly entries = new Map<number, { fn: () => void; ms: number }>();
  private next = 0;

  set(fn: () => void, ms: number): number {
    this.entries.set(++this.next, { fn, ms });
    return this.next;
  }

  clear(handle: unknown): void {
    this.entries.delete(handle as number);
  }

  /** The delays of the timers now set, oldest first. */
  delays(): number[] {
    return [...this.entries.values()].map((e) => e.ms);
  }

  /** Fires every timer now set (not those they set in turn). */
  fireAll(): void {
    const due = [...this.entries.values()];
    this.entries.clear();
    for (const e of due) e.fn();
  }
}
