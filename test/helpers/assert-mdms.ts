/**
 * The exactly-once check shared by the end-to-end tests: the MDMS holds precisely the expected records, bills
 * exact, neighbourhood releases within their noise bound of the clipped sums (the noise is real: the gateway's).
 */
import { expect } from 'vitest';
import type { AggregateRow, MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { clippedSum, type Expected } from './consumption.ts';

/**
 * Asserts that a stored release is within the noise's hard bound B (plus `slackWh`, e.g. an interpolation bound)
 * of the sum of the clipped readings: the truncated noise can never exceed B, so this cannot fail by chance.
 */
export function expectWithinNoise(
  a: AggregateRow,
  readings: readonly number[],
  key: string,
  slackWh = 0,
): void {
  expect(a.noise, key).not.toBeNull();
  const noise = JSON.parse(a.noise!) as { clipWh: number; offset: string };
  const error = Math.abs(a.total_wh - clippedSum(readings, noise.clipWh));
  expect(error, key).toBeLessThanOrEqual(Number(noise.offset) + slackWh);
}

/** Prices per kWh of the reference bands in 10⁻⁶ currency units, for a gateway with billing.reveal cost-only. */
export interface CostOnlyPrices {
  peak: bigint;
  offpeak: bigint;
}

/** An exact decimal amount in 10⁻⁹ units: "12.3" → 12 300 000 000n. */
export function nanoUnits(amount: string): bigint {
  const [whole, fraction = ''] = amount.split('.');
  expect(fraction.length, amount).toBeLessThanOrEqual(9);
  return BigInt(whole!) * 10n ** 9n + BigInt(fraction.padEnd(9, '0'));
}

/**
 * With `costOnly`, bills must hold only the amount due, equal to Σ price × Wh of the CSV's band sums, exactly in
 * integers (10⁻⁶ currency units per kWh × Wh = 10⁻⁹ currency units), and no Wh at all.
 */
export function expectExactlyExpected(store: MdmsStore, expected: Expected, costOnly?: CostOnlyPrices): void {
  const aggregates = store.aggregates();
  const got = new Map(aggregates.map((a) => [`${a.neighbourhood} ${a.interval_start}`, a]));
  expect(aggregates.length).toBe(expected.aggregates.size);
  const errors: number[] = [];
  for (const [key, want] of expected.aggregates) {
    const a = got.get(key);
    expect(a, key).toBeDefined();
    expect({ meters: a!.meters, bands: a!.bands }, key).toEqual({ meters: want.meters, bands: null });
    // A release is Σ min(wh, clipWh) + η with |η| ≤ B; 6σ is a bound a genuine draw exceeds with probability
    // 2·10⁻⁹, so the check cannot fail by chance yet catches a wrong sum or missing noise plumbing.
    const noise = JSON.parse(a!.noise!) as { clipWh: number; offset: string };
    const error = a!.total_wh - clippedSum(want.readings, noise.clipWh);
    const sigma = a!.bound95_wh! / 1.96;
    expect(Math.abs(error), key).toBeLessThanOrEqual(Math.min(Number(noise.offset), 6 * sigma));
    errors.push(error);
  }
  // Noise is there: a discrete Gaussian of σ ≫ 1 draws 0 with probability < 1/σ, so not every error is 0.
  if (errors.length >= 2) expect(errors.some((e) => e !== 0)).toBe(true);
  expect(new Set(store.suppressed().map((s) => `${s.neighbourhood} ${s.interval_start}`))).toEqual(
    expected.suppressed,
  );
  expect(store.suppressed().length).toBe(expected.suppressed.size);
  const bills = store.bills();
  expect(bills.length).toBe(expected.bills.size);
  const gotBills = new Map(bills.map((b) => [`${b.account} ${b.period_start}`, b]));
  for (const [key, want] of expected.bills) {
    const b = gotBills.get(key);
    expect(b, key).toBeDefined();
    if (costOnly) {
      const { total_wh, bands, reveal, intervals } = b!;
      expect({ total_wh, bands, reveal, intervals }, key).toEqual({
        total_wh: null,
        bands: null,
        reveal: 'cost-only',
        intervals: want.intervals,
      });
      const priced = costOnly.peak * BigInt(want.peakWh) + costOnly.offpeak * BigInt(want.offpeakWh);
      expect(nanoUnits(b!.amount!), key).toBe(priced);
      continue;
    }
    expect(
      { intervals: b!.intervals, total: b!.total_wh, bands: JSON.parse(b!.bands!) as unknown },
      key,
    ).toEqual({
      intervals: want.intervals,
      total: want.totalWh,
      bands: { peak: want.peakWh, offpeak: want.offpeakWh },
    });
  }
}
