/** The meter-series options of one meter, from its driver section's clock and gap settings. */
import type { Config, MeterConfig } from '../../gateway/config/schema.ts';
import type { MeterSeriesOptions } from './meter-series.ts';

export interface SeriesSettings {
  maxSampleGapSeconds: number;
  timezone?: string | undefined;
  /** Absent: the protocol carries no time (Modbus), frames are placed by the gateway's clock. */
  trustMeterClock?: boolean;
  maxClockSkewSeconds?: number;
}

export function seriesOptions(
  config: Readonly<Config>,
  meter: MeterConfig,
  s: SeriesSettings,
  registers: readonly string[] | undefined,
): MeterSeriesOptions {
  return {
    meterId: meter.id,
    intervalMs: config.intervals.minutes * 60_000,
    maxSampleGapMs: s.maxSampleGapSeconds * 1000,
    timeZone: s.timezone ?? config.gateway.timezone,
    trustMeterClock: s.trustMeterClock ?? false,
    maxSkewMs: (s.maxClockSkewSeconds ?? Number.MAX_SAFE_INTEGER / 1000) * 1000,
    ...(registers ? { registers } : {}),
  };
}
