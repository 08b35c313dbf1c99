/** The exactly-once check shared by the end-to-end tests: the MDMS holds precisely the expected records. */
import { expect } from 'vitest';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import type { Expected } from './consumption.ts';

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
  for (const [key, want] of expected.aggregates) {
    const a = got.get(key);
    expect(a, key).toBeDefined();
    expect({ meters: a!.meters, total: a!.total_wh, bands: JSON.parse(a!.bands) as unknown }, key).toEqual({
      meters: want.meters,
      total: want.totalWh,
      bands: { peak: want.peakWh, offpeak: want.offpeakWh },
    });
  }
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
