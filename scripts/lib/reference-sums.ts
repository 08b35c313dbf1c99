/**
 * The committed consumption fixture and an independent plaintext computation of what the MDMS must end up with
 * (used by the demo and the tests).
 * Deliberately shares no code with the gateway: it parses the CSV itself and sums in plain numbers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURE_CSV = path.resolve(
  import.meta.dirname,
  '../../test/fixtures/consumption/sgsc-2012-10-09_4days.csv',
);
const HALF_HOUR = 30 * 60_000;

export interface Row {
  household: string;
  /** Interval end, epoch ms (the CSV's wall-clock time read as UTC). */
  end: number;
  wh: number;
  kwhText: string;
}

export function readFixture(file = FIXTURE_CSV): Row[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [household, when, kwh] = l.split(',');
      return {
        household: household!,
        end: Date.parse(`${when!.replace(' ', 'T')}Z`),
        wh: Math.round(Number(kwh) * 1000),
        kwhText: kwh!.trim(),
      };
    });
}

/** Writes the rows of `households` whose interval lies in [from, to) to a CSV of the same shape. */
export function writeSlice(rows: Row[], households: string[], from: number, to: number, file: string): Row[] {
  const keep = rows.filter(
    (r) => households.includes(r.household) && r.end - HALF_HOUR >= from && r.end <= to,
  );
  const text = keep
    .map((r) => `${r.household},${new Date(r.end).toISOString().slice(0, 19).replace('T', ' ')},${r.kwhText}`)
    .join('\n');
  writeFileSync(file, `customer_id,reading_datetime,general_supply_kwh\n${text}\n`);
  return keep;
}

export interface TestMeter {
  id: string;
  household: string;
  neighbourhood: string;
  account: string;
}

export interface Expected {
  /** key `${neighbourhood} ${intervalStartIso}` */
  aggregates: Map<
    string,
    { meters: number; totalWh: number; peakWh: number; offpeakWh: number; readings: number[] }
  >;
  suppressed: Set<string>;
  /** key `${account} ${periodStartIso}` (daily periods, UTC) */
  bills: Map<string, { intervals: number; totalWh: number; peakWh: number; offpeakWh: number }>;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The tariff of the demo, the tests and the benchmark: peak 07:00–23:00 UTC, off-peak the rest. */
export const REFERENCE_BANDS = [
  { name: 'peak', windows: ['07:00-23:00'] },
  { name: 'offpeak', windows: ['23:00-07:00'] },
];

/** Whether an interval starting at `start` is in the peak band of REFERENCE_BANDS (computed independently). */
export const isPeak = (start: number): boolean => {
  const h = new Date(start).getUTCHours();
  return h >= 7 && h < 23;
};

interface Sums {
  count: number;
  totalWh: number;
  peakWh: number;
  offpeakWh: number;
  /** Each reading, so that a release's clipped sum can be computed with the clip it states. */
  readings: number[];
}

/** Σ min(wh, clipWh): what a noisy release sums (docs/privacy.md §Noise). */
export function clippedSum(readings: readonly number[], clipWh: number): number {
  return readings.reduce((sum, wh) => sum + Math.min(wh, clipWh), 0);
}

function addTo(map: Map<string, Sums>, key: string, wh: number, peak: boolean): void {
  const v = map.get(key) ?? { count: 0, totalWh: 0, peakWh: 0, offpeakWh: 0, readings: [] };
  v.count++;
  v.readings.push(wh);
  v.totalWh += wh;
  if (peak) v.peakWh += wh;
  else v.offpeakWh += wh;
  map.set(key, v);
}

export function expectedOutcome(rows: Row[], meters: TestMeter[], k: number): Expected {
  const byHousehold = new Map(meters.map((m) => [m.household, m]));
  const groups = new Map<string, Sums>();
  const billSums = new Map<string, Sums>();
  for (const r of rows) {
    const m = byHousehold.get(r.household);
    if (!m) continue;
    const start = r.end - HALF_HOUR;
    const d = new Date(start);
    addTo(groups, `${m.neighbourhood} ${iso(start)}`, r.wh, isPeak(start));
    addTo(
      billSums,
      `${m.account} ${iso(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))}`,
      r.wh,
      isPeak(start),
    );
  }
  const bills = new Map(
    [...billSums].map(([key, { count, readings: _, ...v }]) => [key, { ...v, intervals: count }]),
  );
  const aggregates = new Map(
    [...groups]
      .filter(([, v]) => v.count >= k)
      .map(([key, { count, ...v }]) => [key, { ...v, meters: count }]),
  );
  const suppressed = new Set([...groups].filter(([, v]) => v.count < k).map(([key]) => key));
  return { aggregates, suppressed, bills };
}
