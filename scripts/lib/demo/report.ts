/**
 * The demo's closing tables: decrypted sums beside the sums computed independently from the CSV. A neighbourhood
 * release is noisy (docs/privacy.md §Noise): it is shown as noisy sum ± its 95 % bound beside the CSV's sum of the
 * clipped readings, and matches when the difference is within the noise's hard bound B (truncation).
 */
import { clippedSum, type Expected } from '../reference-sums.ts';
import type { AggregateRow, BillRow, SuppressedRow } from '../mdms/store.ts';

const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number) => n.toLocaleString('en-US');

export interface Verdict {
  aggregatesMatched: number;
  /** Releases whose noise fell within their 95 % interval (about 95 % of them, by chance). */
  aggregatesWithin95: number;
  aggregatesExpected: number;
  suppressedMatched: number;
  suppressedExpected: number;
  billsMatched: number;
  billsExpected: number;
  ok: boolean;
}

export function printReport(
  expected: Expected,
  aggregates: AggregateRow[],
  suppressed: SuppressedRow[],
  bills: BillRow[],
  neighbourhoods: string[],
  k: number,
  write: (line: string) => void,
): Verdict {
  const got = new Map(aggregates.map((a) => [`${a.neighbourhood} ${a.interval_start}`, a]));
  const sup = new Set(suppressed.map((s) => `${s.neighbourhood} ${s.interval_start}`));
  const intervals = [
    ...new Set([...expected.aggregates.keys(), ...expected.suppressed].map((key) => key.split(' ')[1]!)),
  ].sort();
  let aggregatesMatched = 0;
  let aggregatesWithin95 = 0;
  let suppressedMatched = 0;
  const width = 30;
  write('');
  write(
    'Neighbourhood sums per interval: released (noisy ± 95 % bound) at the MDMS ~ CSV sum of clipped readings ' +
      '(meters); ✓ within the noise bound, * inside the 95 % interval',
  );
  write(`${pad('interval (UTC)', 18)}${neighbourhoods.map((n) => pad(n, width)).join('')}`);
  for (const interval of intervals) {
    const cells = neighbourhoods.map((n) => {
      const key = `${n} ${interval}`;
      const want = expected.aggregates.get(key);
      const a = got.get(key);
      if (want && a?.noise && a.bound95_wh !== null && a.meters === want.meters) {
        const noise = JSON.parse(a.noise) as { clipWh: number; offset: string };
        const exact = clippedSum(want.readings, noise.clipWh);
        const error = Math.abs(a.total_wh - exact);
        const bound = Math.ceil(a.bound95_wh);
        if (error <= Number(noise.offset)) {
          aggregatesMatched++;
          if (error <= a.bound95_wh) aggregatesWithin95++;
          const mark = error <= a.bound95_wh ? '✓*' : '✓';
          return pad(`${num(a.total_wh)}±${num(bound)} ~ ${num(exact)} (${a.meters}) ${mark}`, width);
        }
      }
      if (want) return pad(`${a ? num(a.total_wh) : 'missing'} ≠ ${num(want.totalWh)} Wh ✗`, width);
      if (expected.suppressed.has(key)) {
        if (sup.has(key) && !a) suppressedMatched++;
        return pad(sup.has(key) && !a ? `suppressed (< k=${k}) ✓` : 'NOT suppressed ✗', width);
      }
      return pad('no readings', width);
    });
    write(`${pad(interval.slice(5, 16).replace('T', ' '), 18)}${cells.join('')}`);
  }

  write('');
  write('Bills per account and day: decrypted at the MDMS = summed from the CSV, per tariff band');
  write(
    `${pad('account', 10)}${pad('day', 12)}${pad('intervals', 11)}${pad('peak Wh', 18)}${pad('off-peak Wh', 18)}total Wh`,
  );
  const gotBills = new Map(bills.map((b) => [`${b.account} ${b.period_start}`, b]));
  let billsMatched = 0;
  for (const [key, want] of [...expected.bills].sort(([a], [b]) => a.localeCompare(b))) {
    const [account, day] = key.split(' ');
    const b = gotBills.get(key);
    // The demo's gateway reveals band totals; a cost-only bill has none and does not match.
    const bands = b?.bands ? (JSON.parse(b.bands) as Record<string, number>) : {};
    const ok =
      b &&
      b.total_wh === want.totalWh &&
      bands.peak === want.peakWh &&
      bands.offpeak === want.offpeakWh &&
      b.intervals === want.intervals;
    if (ok) billsMatched++;
    write(
      `${pad(account!, 10)}${pad(day!.slice(0, 10), 12)}${pad(String(b?.intervals ?? '-'), 11)}` +
        `${pad(`${num(bands.peak ?? 0)} = ${num(want.peakWh)}`, 18)}${pad(`${num(bands.offpeak ?? 0)} = ${num(want.offpeakWh)}`, 18)}` +
        `${num(b?.total_wh ?? 0)} = ${num(want.totalWh)} ${ok ? '✓' : '✗'}`,
    );
  }
  const verdict = {
    aggregatesMatched,
    aggregatesWithin95,
    aggregatesExpected: expected.aggregates.size,
    suppressedMatched,
    suppressedExpected: expected.suppressed.size,
    billsMatched,
    billsExpected: expected.bills.size,
    ok: false,
  };
  verdict.ok =
    aggregatesMatched === expected.aggregates.size &&
    aggregates.length === expected.aggregates.size &&
    suppressedMatched === expected.suppressed.size &&
    billsMatched === expected.bills.size;
  return verdict;
}
