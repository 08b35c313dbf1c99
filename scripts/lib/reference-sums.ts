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
  aggregates: Map<string, { meters: number; totalWh: number; peakWh: number; offpeakWh: number }>;
  suppressed: Set<string>;
  /** key `${account} ${periodStartIso}` (daily periods, UTC) */
  bills: Map<string, { intervals: number; totalWh: number; peakWh: number; offpeakWh: number }>;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The test configs' bands: peak 07:00–23:00 UTC, off-peak the rest. */
const isPeak = (start: number) => {
  const h = new Date(start).getUTCHours();
  return h >= 7 && h < 23;
};

export function expectedOutcome(rows: Row[], meters: TestMeter[], k: number): Expected {
  const byHousehold = new Map(meters.map((m) => [m.household, m]));
  const groups = new Map<string, { meters: number; totalWh: number; peakWh: number; offpeakWh: number }>();
  const bills = new Map<string, { intervals: number; totalWh: number; peakWh: number; offpeakWh: number }>();
  for (const r of rows) {
    const m = byHousehold.get(r.household);
    if (!m) continue;
    const start = r.end - HALF_HOUR;
    const peak = isPeak(start);
    const g = `${m.neighbourhood} ${iso(start)}`;
    const gv = groups.get(g) ?? { meters: 0, totalWh: 0, peakWh: 0, offpeakWh: 0 };
    gv.meters++;
    gv.totalWh += r.wh;
    if (peak) gv.peakWh += r.wh;
    else gv.offpeakWh += r.wh;
    groups.set(g, gv);
    const day = Date.UTC(
      new Date(start).getUTCFullYear(),
      new Date(start).getUTCMonth(),
      new Date(start).getUTCDate(),
    );
    const b = `${m.account} ${iso(day)}`;
    const bv = bills.get(b) ?? { intervals: 0, totalWh: 0, peakWh: 0, offpeakWh: 0 };
    bv.intervals++;
    bv.totalWh += r.wh;
    if (peak) bv.peakWh += r.wh;
    else bv.offpeakWh += r.wh;
    bills.set(b, bv);
  }
  const aggregates = new Map([...groups].filter(([, v]) => v.meters >= k));
  const suppressed = new Set([...groups].filter(([, v]) => v.meters < k).map(([key]) => key));
  return { aggregates, suppressed, bills };
}
