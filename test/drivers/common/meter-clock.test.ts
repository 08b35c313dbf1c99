/**
 * Meter timestamps into epoch time: local times in the meter's zone, the DSMR summer/winter flag deciding the
 * autumn overlap, implausible clocks falling back to the gateway's, and the skew check.
 */
import { describe, expect, it } from 'vitest';
import { isPlausibleLocal, meterTimeToEpoch, placeInTime } from '../../../drivers/common/meter-clock.ts';
import type { LocalTimestamp } from '../../../drivers/common/meter-frame.ts';

const AMS = 'Europe/Amsterdam';
const local = (l: LocalTimestamp) => ({ kind: 'local' as const, local: l });

describe('meter clock', () => {
  it('reads DSMR local time in the meter zone (V5 capture: 170102192002W)', () => {
    const t = local({ year: 2017, month: 1, day: 2, hour: 19, minute: 20, second: 2, dst: false });
    expect(new Date(meterTimeToEpoch(t, AMS)).toISOString()).toBe('2017-01-02T18:20:02.000Z');
  });

  it('uses the summer/winter flag in the autumn overlap', () => {
    const at = (dst: boolean | undefined) =>
      new Date(
        meterTimeToEpoch(local({ year: 2023, month: 10, day: 29, hour: 2, minute: 30, second: 0, dst }), AMS),
      ).toISOString();
    expect(at(true)).toBe('2023-10-29T00:30:00.000Z');
    expect(at(false)).toBe('2023-10-29T01:30:00.000Z');
    expect(at(undefined)).toBe('2023-10-29T00:30:00.000Z');
    // Outside the overlap the flag changes nothing.
    const july = local({ year: 2023, month: 7, day: 1, hour: 12, minute: 0, second: 0, dst: false });
    expect(new Date(meterTimeToEpoch(july, AMS)).toISOString()).toBe('2023-07-01T10:00:00.000Z');
  });

  it('takes absolute (SML) times as they are', () => {
    expect(meterTimeToEpoch({ kind: 'epoch', epochMs: 1_700_000_000_000 }, AMS)).toBe(1_700_000_000_000);
  });

  it('rejects impossible calendar times', () => {
    expect(isPlausibleLocal(local({ year: 2017, month: 2, day: 30, hour: 0, minute: 0, second: 0 }))).toBe(
      false,
    );
    expect(isPlausibleLocal(local({ year: 2017, month: 0, day: 1, hour: 0, minute: 0, second: 0 }))).toBe(
      false,
    );
    expect(isPlausibleLocal(local({ year: 2017, month: 1, day: 1, hour: 24, minute: 0, second: 0 }))).toBe(
      false,
    );
  });

  it('places a frame by the meter clock and reports skew beyond the tolerance', () => {
    const t = local({ year: 2017, month: 1, day: 2, hour: 19, minute: 20, second: 2, dst: false });
    const meter = Date.parse('2017-01-02T18:20:02Z');
    const opts = { timeZone: AMS, maxSkewMs: 120_000, trustMeterClock: true };
    expect(placeInTime(t, meter + 60_000, opts)).toEqual({ at: meter, skewMs: -60_000, skewed: false });
    // A Pi booted without network: its clock is in 1970; the meter's clock still places the reading.
    const pi = placeInTime(t, 0, opts);
    expect(pi.at).toBe(meter);
    expect(pi.skewed).toBe(true);
    // Without a meter time, or when told not to trust it, the gateway's clock is used.
    expect(placeInTime(undefined, 42, opts)).toEqual({ at: 42, skewMs: undefined, skewed: false });
    expect(placeInTime(t, 42, { ...opts, trustMeterClock: false }).at).toBe(42);
  });
});
