/**
 * Bills withheld after a removal (issue #14), on real SQLite files. Ciphertexts are small integers folded modulo
 * a small odd "n²": no cryptography is under test.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferStore, type EncryptedReading } from '../../../gateway/buffer/buffer.ts';
import { fromBytes } from '../../../gateway/encrypt/bigint.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';

const N2 = 1_000_003n * 1_000_003n;
const HALF_HOUR = 30 * 60_000;
const T0 = Date.parse('2024-01-10T10:00:00Z');
const JAN = { start: Date.parse('2024-01-01T00:00:00Z'), end: Date.parse('2024-02-01T00:00:00Z') };
const FEB = { start: Date.parse('2024-02-01T00:00:00Z'), end: Date.parse('2024-03-01T00:00:00Z') };

const open: BufferStore[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function openBuffer(file: string, metrics = new Metrics()) {
  const b = BufferStore.open(
    file,
    { synchronous: 'NORMAL' },
    N2,
    { maxPendingReadings: 1000, maxOutboxRecords: 1000 },
    metrics,
  );
  open.push(b);
  return b;
}

const tempFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'withheld-')), 'buffer.sqlite');

/** m1 and m2 are billed to account A (one household with two meters), m3 to account B. */
const ACCOUNT: Record<string, string> = { m1: 'A', m2: 'A', m3: 'B' };

function reading(meterId: string, interval: number, ciphertext: bigint, band = 0): EncryptedReading {
  const intervalStart = T0 + interval * HALF_HOUR;
  const period = intervalStart < JAN.end ? JAN : FEB;
  return {
    meterId,
    neighbourhood: 'north',
    account: ACCOUNT[meterId]!,
    intervalStart,
    band,
    ciphertext,
    period,
    currentPeriod: period,
  };
}

/** Intervals from T0 to the first of February. */
const TO_FEB = (FEB.start - T0) / HALF_HOUR;

const rows = (b: BufferStore, table: string, account: string) =>
  b.db.prepare(`SELECT * FROM ${table} WHERE account = ?`).all(account);

describe('withholdOpenBills', () => {
  it('withholds the open period of a touched account, drops its later readings, bills its next period', () => {
    const metrics = new Metrics();
    const b = openBuffer(tempFile(), metrics);
    b.storeReadings([reading('m1', 0, 2n), reading('m2', 0, 3n), reading('m3', 0, 5n)]);

    // m1 is removed one interval into the period: A's bill would be that household's exact reading plus m2's.
    const withheld = b.withholdOpenBills(['A'], 'bands', T0 + HALF_HOUR, 'meter removed');
    expect(withheld).toEqual([{ account: 'A', periodStart: JAN.start }]);
    expect(metrics.get('bills.withheld')).toBe(1);
    expect(b.billing.get('A', JAN.start)).toBeUndefined();
    expect(rows(b, 'pending_bills', 'A')).toEqual([]);
    expect(rows(b, 'withheld_bills', 'A')).toEqual([
      { account: 'A', period_start: JAN.start, withheld_at: T0 + HALF_HOUR, reason: 'meter removed' },
    ]);

    // The remaining meter's later reading of the withheld period: kept for its group, not billed, counted.
    const [outcome] = b.storeReadings([reading('m2', 1, 7n), reading('m3', 1, 11n)]);
    expect(outcome).toEqual({ aggregation: 'stored', billedLate: false });
    expect(metrics.get('readings.bill_withheld')).toBe(1);
    expect(b.readings.pendingCount()).toBe(5);

    // At the period's end the supplier gets B's bill, exactly as without the removal, and nothing for A.
    const due = b.billsDue(JAN.end);
    expect(due.map((r) => [r.account, r.intervals, fromBytes(r.ciphertext!)])).toEqual([['B', 2, 55n]]);

    // The next period of the remaining meter is billed normally.
    b.storeReading(reading('m2', TO_FEB, 13n));
    const feb = b.billsDue(FEB.end).find((r) => r.account === 'A');
    expect(feb && [feb.periodStart, feb.intervals, fromBytes(feb.ciphertext!)]).toEqual([FEB.start, 1, 13n]);
    expect(metrics.get('readings.bill_withheld')).toBe(1);

    // A second removal withholds only the period open then; a third finds nothing open.
    expect(b.withholdOpenBills(['A'], 'bands', T0, 'meter removed')).toEqual([
      { account: 'A', periodStart: FEB.start },
    ]);
    expect(b.withholdOpenBills(['A', 'A'], 'bands', T0, 'meter removed')).toEqual([]);
    expect(metrics.get('bills.withheld')).toBe(2);
  });

  it('folds the readings still queued before withholding, and deletes a cost-only period band totals', () => {
    const b = openBuffer(tempFile());
    b.storeReadings([reading('m1', 0, 2n, 0), reading('m1', 1, 3n, 1), reading('m3', 0, 5n, 1)]);
    // Nothing folded yet: the withholding folds (opening B's period cost-only, as the closer would) first.
    expect(b.withholdOpenBills(['A'], 'cost-only', T0, 'meter removed')).toHaveLength(1);
    expect(rows(b, 'billing_bands', 'A')).toEqual([]);
    expect(b.billing.get('B', JAN.start)?.reveal).toBe('cost-only');
    expect(b.billing.bands('B', JAN.start).map((t) => [t.band, fromBytes(t.ciphertext)])).toEqual([[1, 5n]]);
  });

  it('keeps a period withheld across close and re-open', () => {
    const file = tempFile();
    const first = openBuffer(file);
    first.storeReading(reading('m2', 0, 3n));
    first.withholdOpenBills(['A'], 'bands', T0, 'meter removed');
    first.close();

    const metrics = new Metrics();
    const again = openBuffer(file, metrics);
    again.storeReading(reading('m2', 1, 7n));
    expect(metrics.get('readings.bill_withheld')).toBe(1);
    expect(again.billsDue(JAN.end)).toEqual([]);
  });
});
