/**
 * The meter's clock against the gateway's. A reading is placed in its interval by the meter's own timestamp where
 * the protocol carries one (DSMR 0-0:1.0.0, IEC 62056-21 0.9.1/0.9.2, SML actTime): a Raspberry Pi has no
 * real-time clock, so until NTP has synchronised it the gateway's time may be hours or years off, while a
 * billing meter's clock is legally kept right. Protocols without a timestamp (Modbus, most MQTT bridges) are
 * placed by the gateway's clock at reception.
 *
 * The two are compared on every frame; a difference beyond the configured tolerance is reported (metric
 * `driver.clock_skew`, a warning once per episode) so that whichever clock is wrong gets fixed. The intake
 * independently refuses readings that end more than 5 minutes in the gateway's future: a gateway whose clock is
 * far behind (no NTP yet) drops readings rather than accept times it cannot check.
 */
import { wallParts, zonedToEpoch } from '../../gateway/time/zoned.ts';
import type { MeterTime } from './meter-frame.ts';

const HOUR_MS = 3_600_000;

/**
 * Epoch ms of a meter time; local times are read in `timeZone`. In the autumn overlap, where a local time happens
 * twice, the meter's DST flag picks the instant (DSMR "S" the first, "W" the second); without a flag, the first.
 */
export function meterTimeToEpoch(time: MeterTime, timeZone: string): number {
  if (time.kind === 'epoch') return time.epochMs;
  const l = time.local;
  const first = zonedToEpoch(l, timeZone);
  if (l.dst === false) {
    const later = first + HOUR_MS;
    const w = wallParts(later, timeZone);
    if (
      w.year === l.year &&
      w.month === l.month &&
      w.day === l.day &&
      w.hour === l.hour &&
      w.minute === l.minute
    )
      return later;
  }
  return first;
}

/** Meter clocks before this are unset (DSMR meters that lost their time send 1970 or 2000-01-01). */
const EARLIEST_PLAUSIBLE_YEAR = 2001;

/**
 * True when a meter time can be a real one: a calendar time (a corrupt clock sends 00-00-00 or hour 25) after
 * the year a reset clock falls back to. An implausible meter time falls back to the gateway's clock.
 */
export function isPlausibleLocal(time: MeterTime): boolean {
  if (time.kind === 'epoch') {
    return Number.isFinite(time.epochMs) && time.epochMs >= Date.UTC(EARLIEST_PLAUSIBLE_YEAR, 0, 1);
  }
  const { year, month, day, hour, minute, second } = time.local;
  if (year < EARLIEST_PLAUSIBLE_YEAR) return false;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  return new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}

export interface ClockCheck {
  /** When the sample is taken to have been measured. */
  at: number;
  /** Meter time minus gateway time, ms; undefined without a meter time. */
  skewMs: number | undefined;
  /** True when |skew| exceeds the tolerance. */
  skewed: boolean;
}

/** Places a frame in time: the meter's clock when it has a usable one, else the gateway's. */
export function placeInTime(
  time: MeterTime | undefined,
  gatewayNow: number,
  opts: { timeZone: string; maxSkewMs: number; trustMeterClock: boolean },
): ClockCheck {
  if (!time || !opts.trustMeterClock || !isPlausibleLocal(time)) {
    return { at: gatewayNow, skewMs: undefined, skewed: false };
  }
  const at = meterTimeToEpoch(time, opts.timeZone);
  const skewMs = at - gatewayNow;
  return { at, skewMs, skewed: Math.abs(skewMs) > opts.maxSkewMs };
}
