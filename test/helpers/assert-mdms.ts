/** The exactly-once check shared by the end-to-end tests: the MDMS holds precisely the expected records. */
import { expect } from 'vitest';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import type { Expected } from './consumption.ts';

export function expectExactlyExpected(store: MdmsStore, expected: Expected): void {
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
    expect(
      { intervals: b!.intervals, total: b!.total_wh, bands: JSON.parse(b!.bands) as unknown },
      key,
    ).toEqual({
      intervals: want.intervals,
      total: want.totalWh,
      bands: { peak: want.peakWh, offpeak: want.offpeakWh },
    });
  }
}
