/**
 * The data clock the gateway acts on: it never reads earlier than the latest instant it has read (persisted in
 * the buffer, so across restarts too) nor than the earliest plausible time. A Pi has no real-time clock: it boots
 * in 1970, or at the time fake-hwclock saved last (up to an hour behind after a power cut), and NTP steps it
 * later, by years or by seconds, forwards or backwards. While the source reads earlier than that mark the clock
 * stands still at it: no interval or bill closes, readings from after it are held by the intake, an interval or
 * billing period already closed is not reopened (nothing is released twice) and nothing comes out negative.
 * A forward step is taken as it comes: the intervals and periods in between close in order on the next tick.
 */
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Clock } from './clock.ts';
import { isoUtc } from './zoned.ts';

/** No gateway of this project ran before 2024: a system clock before it has not been set (the doctor agrees). */
export const EARLIEST_PLAUSIBLE = Date.UTC(2024, 0, 1);

/**
 * ok: the source is the data clock; unset: the source reads before the earliest plausible time (no NTP yet);
 * behind: it reads before what the gateway has already acted on (stepped back).
 */
export type ClockState = 'ok' | 'unset' | 'behind';

export interface ClockStatus {
  state: ClockState;
  /** How far the source reads behind the data clock, which stands still meanwhile (0 when ok). */
  behindSeconds: number;
}

export interface SteadyClockFloor {
  /** The earliest plausible instant (EARLIEST_PLAUSIBLE for the system clock). */
  notBefore: number;
  /** The latest instant a previous run acted on (`SteadyClock.highWater` as persisted), if any. */
  resumeAt: number | undefined;
}

export class SteadyClock implements Clock {
  private mark: number;
  private state: ClockState = 'ok';

  constructor(
    private readonly source: Clock,
    private readonly floor: SteadyClockFloor,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.mark = Math.max(floor.notBefore, floor.resumeAt ?? Number.NEGATIVE_INFINITY);
  }

  now(): number {
    const t = this.source.now();
    if (t >= this.mark) {
      if (this.state !== 'ok') this.caughtUp(t);
      this.mark = t;
      return t;
    }
    if (this.state === 'ok') this.hold(t);
    return this.mark;
  }

  /** The latest instant this clock has read: what the gateway persists, and resumes from after a restart. */
  get highWater(): number {
    return this.mark;
  }

  status(): ClockStatus {
    this.now();
    const behindMs = this.state === 'ok' ? 0 : this.mark - this.source.now();
    return { state: this.state, behindSeconds: Math.max(0, Math.ceil(behindMs / 1000)) };
  }

  private hold(t: number): void {
    this.state = t < this.floor.notBefore ? 'unset' : 'behind';
    this.metrics.inc(`clock.held.${this.state}`);
    const fields = {
      clock: isoUtc(t),
      holdsAt: isoUtc(this.mark),
      behindSeconds: Math.ceil((this.mark - t) / 1000),
    };
    if (this.state === 'unset') {
      this.log.warn(
        fields,
        'the system clock has not been set: the data clock stands still, nothing closes and readings are held ' +
          'until NTP sets it (timedatectl status)',
      );
    } else {
      this.log.warn(
        fields,
        'the clock went back: the data clock stands still at the latest time the gateway acted on until the ' +
          'clock passes it again; nothing is released twice, later readings of closed intervals are late',
      );
    }
  }

  private caughtUp(t: number): void {
    this.log.info(
      { clock: isoUtc(t), was: this.state },
      'the clock has caught up: the data clock runs again',
    );
    this.state = 'ok';
  }
}
