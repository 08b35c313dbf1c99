/**
 * An emulated meter's cumulative import register, driven by a household's recorded consumption: the register
 * starts at `initialWh` and grows by each recorded interval's energy, spread evenly over the interval, so that its
 * value at every interval boundary is a whole number of Wh and the difference between two boundaries is exactly the
 * recorded consumption. An interval missing from the recording is one in which the meter was silent
 * (`hasDataAt` is false there): it adds nothing and the emulator sends no frame in it.
 */
import type { ConsumptionRow } from '../../../drivers/replay/consumption-csv.ts';

export class RegisterModel {
  /** Interval end → cumulative Wh at that end. */
  private readonly atEnd = new Map<number, number>();
  private readonly perInterval = new Map<number, number>();
  private readonly firstEnd: number;
  private readonly lastEnd: number;

  constructor(
    rows: readonly ConsumptionRow[],
    private readonly intervalMs: number,
    private readonly initialWh: number,
  ) {
    const sorted = [...rows].sort((a, b) => a.end - b.end);
    let total = initialWh;
    for (const r of sorted) {
      total += r.wh;
      this.atEnd.set(r.end, total);
      this.perInterval.set(r.end, r.wh);
    }
    this.firstEnd = sorted[0]?.end ?? 0;
    this.lastEnd = sorted.at(-1)?.end ?? 0;
  }

  /** End of the interval containing `t` ((end − interval, end]: a boundary belongs to the interval it closes). */
  private endOf(t: number): number {
    return Math.ceil(t / this.intervalMs) * this.intervalMs;
  }

  /** True when the recording covers the interval containing `t` (or `t` is the boundary before a recorded one). */
  hasDataAt(t: number): boolean {
    const end = this.endOf(t);
    return this.atEnd.has(end) || (t % this.intervalMs === 0 && this.atEnd.has(t + this.intervalMs));
  }

  /** The first and last instants the recording covers. */
  get span(): { from: number; to: number } {
    return { from: this.firstEnd - this.intervalMs, to: this.lastEnd };
  }

  /** The register in Wh at `t` (fractional inside an interval). */
  valueAt(t: number): number {
    const end = this.endOf(t);
    if (t <= this.firstEnd - this.intervalMs) return this.initialWh;
    if (t >= this.lastEnd) return this.atEnd.get(this.lastEnd) ?? this.initialWh;
    const closing = this.atEnd.get(end);
    if (closing === undefined) return this.before(end);
    const consumed = this.perInterval.get(end)!;
    return closing - consumed * ((end - t) / this.intervalMs);
  }

  /** The register at the last recorded boundary at or before `end − interval`. */
  private before(end: number): number {
    for (let e = end - this.intervalMs; e >= this.firstEnd; e -= this.intervalMs) {
      const v = this.atEnd.get(e);
      if (v !== undefined) return v;
    }
    return this.initialWh;
  }
}
