/**
 * Turns a meter's cumulative energy register into interval Readings. Real meters report a register that only
 * grows (kWh since installation), sampled every second (DSMR 5), every ten seconds (DSMR 4), at each poll
 * (Modbus, IEC 62056-21) or at each push; the gateway needs the energy of each aggregation interval.
 *
 * The register's value at an interval boundary b is taken from the two samples around it, linearly interpolated,
 * and rounded to whole Wh; an interval's energy is then R(end) − R(start). Because each boundary value serves as
 * the end of one interval and the start of the next, the readings of consecutive intervals add up exactly to the
 * register's own difference: a bill computed from them equals the meter's display.
 *
 * A boundary is only valued when the samples around it are at most `maxSampleGapMs` apart. Across a longer
 * silence (meter unplugged, port gone) the intervals inside have no reading — missing, never zero — and the
 * energy of the gap is not attributed to any interval (counted as a gap so an operator sees it).
 */

export interface RegisterIntervalsOptions {
  intervalMs: number;
  /** The widest spacing of two samples across which a boundary value is interpolated. */
  maxSampleGapMs: number;
}

/** An interval's energy, as the common driver layer hands it to the intake. */
export interface IntervalEnergy {
  start: number;
  end: number;
  wh: number;
}

/** What a sample did besides (maybe) completing intervals; the driver counts these. */
export type SampleIssue =
  /** Timestamp not after the previous sample's: a repeated or out-of-order frame, ignored. */
  | 'stale'
  /** The register went down: meter replaced or reset. The series restarts from this sample. */
  | 'regressed'
  /** Samples too far apart to value the boundaries between them: those intervals have no reading. */
  | 'gap';

export interface SampleResult {
  readings: IntervalEnergy[];
  issue?: SampleIssue;
}

interface Sample {
  at: number;
  wh: number;
}

export class RegisterIntervals {
  private last: Sample | undefined;
  /** The latest valued boundary and the register's whole-Wh value there. */
  private boundary: { at: number; wh: number } | undefined;

  constructor(private readonly opts: RegisterIntervalsOptions) {}

  /** Feeds one sample: `at` epoch ms of the measurement, `wh` the cumulative register in Wh (may be fractional). */
  push(at: number, wh: number): SampleResult {
    const { intervalMs, maxSampleGapMs } = this.opts;
    const last = this.last;
    if (last && at <= last.at) return { readings: [], issue: 'stale' };
    this.last = { at, wh };
    const onBoundary = at % intervalMs === 0;
    if (!last || wh < last.wh) {
      this.boundary = onBoundary ? { at, wh: Math.round(wh) } : undefined;
      return last ? { readings: [], issue: 'regressed' } : { readings: [] };
    }
    const readings: IntervalEnergy[] = [];
    // Boundaries in (last.at, at]; their count is bounded by the gap check before the loop runs.
    const first = Math.floor(last.at / intervalMs) * intervalMs + intervalMs;
    if (first > at) return { readings };
    if (at - last.at > maxSampleGapMs) {
      this.boundary = onBoundary ? { at, wh: Math.round(wh) } : undefined;
      return { readings, issue: 'gap' };
    }
    for (let b = first; b <= at; b += intervalMs) {
      const value = Math.round(last.wh + ((wh - last.wh) * (b - last.at)) / (at - last.at));
      if (this.boundary && this.boundary.at === b - intervalMs) {
        readings.push({ start: b - intervalMs, end: b, wh: value - this.boundary.wh });
      }
      this.boundary = { at: b, wh: value };
    }
    return { readings };
  }

  /** Forgets the series (e.g. when the meter behind a port has changed). */
  reset(): void {
    this.last = undefined;
    this.boundary = undefined;
  }
}
