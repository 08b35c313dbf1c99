/**
 * The common end of every real-meter driver: from one meter's verified frames to interval Readings. Places each
 * frame in time (meter clock or gateway clock, `meter-clock.ts`), takes the cumulative import energy
 * (`import-energy.ts`), turns the register into interval energies (`register-intervals.ts`) and hands them to the
 * intake. Skips already-accepted intervals (after a restart), counts every anomaly and never throws.
 */
import type { ReadingSink } from '../../gateway/acquire/reading.ts';
import { errorCode } from '../../gateway/errors.ts';
import type { Logger } from '../../gateway/observe/log.ts';
import type { MeterReport } from '../../gateway/observe/meter-status.ts';
import type { Metrics } from '../../gateway/observe/metrics.ts';
import type { DriverContext } from '../driver.ts';
import { importEnergyWh } from './import-energy.ts';
import { placeInTime } from './meter-clock.ts';
import type { MeterFrame } from './meter-frame.ts';
import { RegisterIntervals } from './register-intervals.ts';

export interface MeterSeriesOptions {
  meterId: string;
  intervalMs: number;
  maxSampleGapMs: number;
  /** Zone of the meter's local timestamps. */
  timeZone: string;
  /** Place frames by the meter's clock when it sends one (default); false: by the gateway's clock. */
  trustMeterClock: boolean;
  maxSkewMs: number;
  /** Registers summed as the import energy; default 1-0:1.8.0, else the sum of 1-0:1.8.1..9. */
  registers?: readonly string[];
}

export interface SeriesDeps {
  sink: ReadingSink;
  metrics: Metrics;
  report: MeterReport;
  log: Logger;
  /** Last accepted interval start of this meter (the intake's cursor). */
  cursor(): number | undefined;
  /** Told the identity the meter gives of itself in a frame (DriverContext.identify), before its readings. */
  identify?: ((identity: string) => void) | undefined;
}

/** A meter's series dependencies from its driver's context. */
export function seriesDepsOf(ctx: DriverContext, meterId: string): SeriesDeps {
  return {
    sink: ctx.sink,
    metrics: ctx.metrics,
    report: ctx.report,
    log: ctx.log,
    cursor: () => ctx.cursor(meterId),
    identify: ctx.identify && ((identity) => ctx.identify?.(meterId, identity)),
  };
}

/**
 * The identity a frame gives of its meter: its serial (DSMR 0-0:96.1.1, SML server id, IEC 0.0.0), if it has a
 * real one: DSMR 2.2 meters send a placeholder of zeros, which names no device.
 */
export function frameIdentity(frame: MeterFrame): string | undefined {
  const serial = frame.serial?.trim();
  return serial === undefined || /^0*$/.test(serial) ? undefined : `meter-serial:${serial}`;
}

export class MeterSeries {
  private readonly intervals: RegisterIntervals;
  private skewReported = false;
  /** Data time of the last frame that carried an energy register. */
  lastFrameAt: number | undefined;

  constructor(
    private readonly opts: MeterSeriesOptions,
    private readonly deps: SeriesDeps,
  ) {
    this.intervals = new RegisterIntervals({
      intervalMs: opts.intervalMs,
      maxSampleGapMs: opts.maxSampleGapMs,
    });
  }

  /** Takes one verified frame received at gateway time `receivedAt`. */
  frame(frame: MeterFrame, receivedAt: number): void {
    const { opts, deps } = this;
    try {
      // Bound to this meter before any of its readings is taken (issue #14: one device, one meter id).
      const identity = frameIdentity(frame);
      if (identity !== undefined) deps.identify?.(identity);
      const wh = importEnergyWh(frame, opts.registers);
      if (wh === undefined) {
        deps.metrics.inc('driver.frames_without_energy');
        return;
      }
      const placed = placeInTime(frame.time, receivedAt, opts);
      this.reportSkew(placed.skewed, placed.skewMs);
      this.lastFrameAt = placed.at;
      const { readings, issue } = this.intervals.push(placed.at, wh);
      if (issue) {
        deps.metrics.inc(`driver.samples_${issue}`);
        if (issue !== 'stale')
          deps.log.warn({ meter: opts.meterId, issue }, `meter register: ${ISSUES[issue]}`);
      }
      const cursor = deps.cursor();
      for (const r of readings) {
        if (cursor !== undefined && r.start <= cursor) continue;
        deps.sink({ meterId: opts.meterId, ...r });
      }
    } catch (error) {
      deps.metrics.inc(`driver.frames_rejected.${errorCode(error)}`);
      deps.report.rejected(opts.meterId, errorCode(error));
      deps.log.warn(
        { meter: opts.meterId, code: errorCode(error), reason: (error as Error).message },
        'frame rejected',
      );
    }
  }

  private reportSkew(skewed: boolean, skewMs: number | undefined): void {
    if (skewed) this.deps.metrics.inc('driver.clock_skew');
    if (skewed && !this.skewReported) {
      this.deps.log.warn(
        { meter: this.opts.meterId, skewSeconds: Math.round((skewMs ?? 0) / 1000) },
        'meter clock and gateway clock disagree: readings are placed by the meter clock; check NTP and the meter',
      );
    } else if (!skewed && this.skewReported) {
      this.deps.log.info({ meter: this.opts.meterId }, 'meter clock and gateway clock agree again');
    }
    this.skewReported = skewed;
  }
}

const ISSUES = {
  stale: 'frame not newer than the previous one, ignored',
  regressed: 'register went down (meter replaced or reset); series restarted',
  gap: 'samples too far apart; the intervals between them have no reading',
} as const;
