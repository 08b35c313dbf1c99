/**
 * The SQLite buffer on real temporary database files. No cryptography is under test here, so ciphertexts are
 * small integers and the "n²" they are folded modulo is a small odd number.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferStore, type BufferLimits, type EncryptedReading } from '../../../gateway/buffer/buffer.ts';
import { openDatabase } from '../../../gateway/buffer/database.ts';
import { MIGRATIONS } from '../../../gateway/buffer/migrations.ts';
import type { OutboxRecord, RecordKind } from '../../../gateway/buffer/outbox-store.ts';
import { fromBytes } from '../../../gateway/encrypt/bigint.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const N = 1_000_003n;
const N2 = N * N;
const HALF_HOUR = 30 * 60_000;
const T0 = Date.parse('2024-01-10T10:00:00Z');
const JAN = { start: Date.parse('2024-01-01T00:00:00Z'), end: Date.parse('2024-02-01T00:00:00Z') };
const FEB = { start: Date.parse('2024-02-01T00:00:00Z'), end: Date.parse('2024-03-01T00:00:00Z') };
const ROOMY: BufferLimits = { maxPendingReadings: 1000, maxOutboxRecords: 1000 };

const open: BufferStore[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function tempFile(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'buffer-')), 'buffer.sqlite');
}

function openBuffer(
  file: string,
  limits = ROOMY,
  metrics = new Metrics(),
  synchronous: 'NORMAL' | 'FULL' = 'NORMAL',
) {
  const buffer = BufferStore.open(file, { synchronous }, N2, limits, metrics);
  open.push(buffer);
  return buffer;
}

function reading(
  meterId: string,
  interval: number,
  ciphertext: bigint,
  over: Partial<EncryptedReading> = {},
) {
  return {
    meterId,
    neighbourhood: 'north',
    account: `ACC-${meterId}`,
    intervalStart: T0 + interval * HALF_HOUR,
    band: 0,
    ciphertext,
    period: JAN,
    currentPeriod: JAN,
    ...over,
  } satisfies EncryptedReading;
}

function record(
  id: string,
  kind: RecordKind,
  createdAt: number,
  over: Partial<OutboxRecord> = {},
): OutboxRecord {
  return { recordId: id, kind, body: JSON.stringify({ kind, id }), createdAt, ...over };
}

/** Everything in the database, to check that a refused operation changed nothing. */
function dump(b: BufferStore) {
  const all = (table: string) => b.db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
  return {
    readings: all('readings'),
    cursors: all('meter_cursors'),
    decided: all('decided_groups'),
    billing: all('billing_periods'),
    pendingBills: all('pending_bills'),
    outbox: all('outbox'),
    batches: all('batches'),
    state: all('state'),
    pending: b.readings.pendingCount(),
  };
}

/** The account's running total, with every queued reading folded in. */
const bill = (b: BufferStore, account: string, period = JAN) => {
  b.foldBills();
  const row = b.billing.get(account, period.start);
  return row && { ciphertext: fromBytes(row.ciphertext!), intervals: row.intervals, closed: row.closed };
};

const group = (interval: number, neighbourhood = 'north') => ({
  neighbourhood,
  intervalStart: T0 + interval * HALF_HOUR,
});

describe('BufferStore.open', () => {
  it('applies the migrations, records user_version and turns WAL on', () => {
    const b = openBuffer(tempFile());
    expect(b.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(b.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(b.db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(b.db.pragma('foreign_keys', { simple: true })).toBe(1);
    // Checkpoints spaced for the SD card (buffer.walCheckpointPages), the WAL cut back to twice that after one.
    expect(b.db.pragma('wal_autocheckpoint', { simple: true })).toBe(4000);
    expect(b.db.pragma('journal_size_limit', { simple: true })).toBe(4000 * 2 * 4096);
    const tables = (
      b.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    )
      .map((t) => t.name)
      .sort();
    expect(tables).toEqual(
      [
        'batches',
        'billing_bands',
        'billing_periods',
        'commanded_meters',
        'consent_log',
        'customer_history',
        'customer_seq',
        'customers',
        'decided_groups',
        'device_bindings',
        'held_readings',
        'meter_cursors',
        'meter_ids',
        'neighbourhood_ids',
        'outbox',
        'pending_bills',
        'readings',
        'rehomes',
        'shared_outbox',
        'shared_sent',
        'shared_spans',
        'state',
        'used_enrolment_codes',
        'withheld_bills',
      ].sort(),
    );
  });

  it('honours synchronous = FULL', () => {
    expect(
      openBuffer(tempFile(), ROOMY, new Metrics(), 'FULL').db.pragma('synchronous', { simple: true }),
    ).toBe(2);
  });

  it('re-opening does not re-run migrations', () => {
    const file = tempFile();
    openBuffer(file).close();
    const b = openBuffer(file);
    expect(b.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
  });

  it('refuses a database from a newer gateway (STORAGE_FAILED)', () => {
    const file = tempFile();
    const db = new Database(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expectCode('STORAGE_FAILED', () => openBuffer(file));
  });
});

describe('storeReading', () => {
  it('stores a reading for aggregation and starts its bill', () => {
    const b = openBuffer(tempFile());
    expect(b.storeReading(reading('m1', 0, 3n))).toEqual({ aggregation: 'stored', billedLate: false });
    expect(b.readings.ciphertexts(group(0)).map((r) => [r.meterId, fromBytes(r.ciphertext)])).toEqual([
      ['m1', 3n],
    ]);
    expect(b.readings.pendingCount()).toBe(1);
    expect(b.readings.cursor('m1')).toBe(T0);
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 3n, intervals: 1, closed: false });
    expect(b.billing.get('ACC-m1', JAN.start)?.periodEnd).toBe(JAN.end);
  });

  it('folds every reading of the period into the bill: the product of ciphertexts mod n²', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m1', 1, 5n));
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 15n, intervals: 2, closed: false });
    // Wrapping modulo n²: (n² − 2)(n² − 3) ≡ 6.
    const c = openBuffer(tempFile());
    c.storeReading(reading('m1', 0, N2 - 2n));
    c.storeReading(reading('m1', 1, N2 - 3n));
    expect(bill(c, 'ACC-m1')?.ciphertext).toBe(6n);
  });

  it('keeps accounts and neighbourhoods apart', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m2', 0, 7n));
    b.storeReading(reading('m3', 0, 11n, { neighbourhood: 'east', account: 'ACC-m1' }));
    expect(b.readings.ciphertexts(group(0)).map((r) => r.meterId)).toEqual(['m1', 'm2']);
    expect(b.readings.ciphertexts(group(0, 'east')).map((r) => r.meterId)).toEqual(['m3']);
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 33n, intervals: 2, closed: false });
    expect(bill(b, 'ACC-m2')).toEqual({ ciphertext: 7n, intervals: 1, closed: false });
  });

  it('refuses a duplicate or older interval (READING_DUPLICATE) and changes nothing', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m1', 2, 5n));
    const before = dump(b);
    expectCode('READING_DUPLICATE', () => b.storeReading(reading('m1', 2, 7n)));
    expectCode('READING_DUPLICATE', () => b.storeReading(reading('m1', 1, 7n)));
    expectCode('READING_DUPLICATE', () => b.storeReading(reading('m1', 0, 7n)));
    expect(dump(b)).toEqual(before);
    // Another meter's same interval is not a duplicate.
    expect(b.storeReading(reading('m2', 2, 7n)).aggregation).toBe('stored');
  });

  it('bills but does not store a reading whose group was already decided ("late")', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.decideGroup(group(0), 'released', record('agg:0', 'aggregate', T0 + HALF_HOUR, { group: group(0) }));
    expect(b.storeReading(reading('m2', 0, 7n, { account: 'ACC-m1' }))).toEqual({
      aggregation: 'late',
      billedLate: false,
    });
    expect(b.readings.ciphertexts(group(0)).map((r) => r.meterId)).toEqual(['m1']);
    expect(b.readings.pendingCount()).toBe(1);
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 21n, intervals: 2, closed: false });
    // The meter moved on: the same interval again is a duplicate.
    expect(b.readings.cursor('m2')).toBe(T0);
    expectCode('READING_DUPLICATE', () => b.storeReading(reading('m2', 0, 7n)));
    // A group decided as suppressed is just as final.
    b.decideGroup(group(1), 'suppressed', record('agg:1', 'suppressed', T0, { group: group(1) }));
    expect(b.storeReading(reading('m1', 1, 5n)).aggregation).toBe('late');
  });

  it('past maxPendingReadings bills a reading without keeping it for aggregation ("full")', () => {
    const b = openBuffer(tempFile(), { maxPendingReadings: 2, maxOutboxRecords: 1000 });
    expect(b.storeReading(reading('m1', 0, 3n)).aggregation).toBe('stored');
    expect(b.storeReading(reading('m2', 0, 5n)).aggregation).toBe('stored');
    expect(b.storeReading(reading('m3', 0, 7n)).aggregation).toBe('full');
    expect(b.storeReading(reading('m1', 1, 11n)).aggregation).toBe('full');
    expect(b.readings.pendingCount()).toBe(2);
    expect(b.readings.ciphertexts(group(0)).map((r) => r.meterId)).toEqual(['m1', 'm2']);
    expect(b.readings.ciphertexts(group(1))).toEqual([]);
    expect(bill(b, 'ACC-m3')).toEqual({ ciphertext: 7n, intervals: 1, closed: false });
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 33n, intervals: 2, closed: false });
    expect(b.readings.cursor('m3')).toBe(T0);
  });

  it('bills a reading whose period is already closed into the current period', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.foldBills();
    b.billing.close('ACC-m1', JAN.start);
    const outcome = b.storeReading(reading('m1', 1, 5n, { currentPeriod: FEB }));
    expect(outcome).toEqual({ aggregation: 'stored', billedLate: true });
    expect(bill(b, 'ACC-m1', JAN)).toEqual({ ciphertext: 3n, intervals: 1, closed: true });
    expect(bill(b, 'ACC-m1', FEB)).toEqual({ ciphertext: 5n, intervals: 1, closed: false });
    expect(b.billing.get('ACC-m1', FEB.start)?.periodEnd).toBe(FEB.end);
    // And folds further late readings into the same current period.
    b.storeReading(reading('m1', 2, 7n, { currentPeriod: FEB }));
    expect(bill(b, 'ACC-m1', FEB)).toEqual({ ciphertext: 35n, intervals: 2, closed: false });
  });

  it('refuses a reading when even the current period is closed (READING_TOO_OLD), changing nothing', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m1', 1, 5n, { period: FEB, currentPeriod: FEB }));
    b.foldBills();
    b.billing.close('ACC-m1', JAN.start);
    b.billing.close('ACC-m1', FEB.start);
    const before = dump(b);
    expectCode('READING_TOO_OLD', () => b.storeReading(reading('m1', 2, 7n, { currentPeriod: FEB })));
    // The reading inserted for aggregation was rolled back with the rest, and not counted as pending.
    expect(dump(b)).toEqual(before);
  });
});

describe('folding queued bills', () => {
  const billingRows = (b: BufferStore) => b.db.prepare('SELECT COUNT(*) AS n FROM billing_periods').get();
  const queued = (b: BufferStore) => b.db.prepare('SELECT COUNT(*) AS n FROM pending_bills').get();

  it('queues each reading and rewrites each total once per fold, in chunks, with the same product', () => {
    const b = openBuffer(tempFile());
    const values = [3n, 5n, 7n, 11n, 13n];
    values.forEach((c, i) => b.storeReading(reading('m1', i, c)));
    b.storeReading(reading('m2', 0, 17n));
    expect(billingRows(b)).toEqual({ n: 0 });
    expect(queued(b)).toEqual({ n: 6 });
    expect(b.foldBills('bands', 2)).toBe(6);
    expect(queued(b)).toEqual({ n: 0 });
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 15015n, intervals: 5, closed: false });
    expect(bill(b, 'ACC-m2')).toEqual({ ciphertext: 17n, intervals: 1, closed: false });
    // Later readings multiply into the existing total.
    b.storeReading(reading('m1', 5, 2n));
    expect(b.foldBills()).toBe(1);
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 30030n, intervals: 6, closed: false });
    expect(b.foldBills()).toBe(0);
  });

  it('keeps queued readings across a crash (close without folding) and folds them after re-opening', () => {
    const file = tempFile();
    const first = openBuffer(file);
    first.storeReading(reading('m1', 0, 3n));
    first.storeReading(reading('m1', 1, 5n, { period: FEB, currentPeriod: FEB }));
    first.close();
    const again = openBuffer(file);
    expect(again.pendingBills.count).toBe(2);
    expect(again.pendingBills.earliestPeriodEnd).toBe(JAN.end);
    expect(bill(again, 'ACC-m1', JAN)).toEqual({ ciphertext: 3n, intervals: 1, closed: false });
    expect(bill(again, 'ACC-m1', FEB)).toEqual({ ciphertext: 5n, intervals: 1, closed: false });
  });

  it('billsDue folds what is queued for a period that has ended, and lists only ended open periods', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m2', 0, 5n, { period: FEB, currentPeriod: FEB }));
    expect(b.billsDue(JAN.end - 1)).toEqual([]);
    expect(queued(b)).toEqual({ n: 2 });
    const due = b.billsDue(JAN.end);
    expect(due.map((r) => [r.account, fromBytes(r.ciphertext!), r.intervals])).toEqual([['ACC-m1', 3n, 1]]);
    expect(queued(b)).toEqual({ n: 0 });
  });

  it('a fold that fails (disk full, say) leaves the queue and the totals as they were', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n));
    b.db.exec(
      "CREATE TRIGGER fail BEFORE INSERT ON billing_periods BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    );
    expect(() => b.foldBills()).toThrow('disk full');
    expect(queued(b)).toEqual({ n: 1 });
    expect(billingRows(b)).toEqual({ n: 0 });
    b.db.exec('DROP TRIGGER fail');
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 3n, intervals: 1, closed: false });
  });
});

describe('migration 2 (readings in arrival order, queued bills)', () => {
  it('keeps the readings, cursors and totals of a version-1 database', () => {
    const file = tempFile();
    // A file as a gateway of the previous release left it: schema version 1, with data.
    const raw = openDatabase(file, { synchronous: 'NORMAL' }, MIGRATIONS.slice(0, 1));
    const insert = raw.prepare('INSERT INTO readings VALUES (?, ?, ?, ?)');
    insert.run('m2', 'north', T0, Buffer.from([5]));
    insert.run('m1', 'north', T0, Buffer.from([3]));
    raw.prepare('INSERT INTO meter_cursors VALUES (?, ?)').run('m1', T0);
    raw.close();

    const b = openBuffer(file);
    expect(b.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(b.readings.pendingCount()).toBe(2);
    expect(b.readings.ciphertexts(group(0)).map((r) => [r.meterId, fromBytes(r.ciphertext)])).toEqual([
      ['m1', 3n],
      ['m2', 5n],
    ]);
    expect(b.readings.cursor('m1')).toBe(T0);
    expectCode('READING_DUPLICATE', () => b.storeReading(reading('m1', 0, 7n)));
  });
});

describe('cost-only periods (billing.reveal)', () => {
  const MAR = { start: Date.parse('2024-03-01T00:00:00Z'), end: Date.parse('2024-04-01T00:00:00Z') };
  /** The per-band running totals of a period, band → product. */
  const bandTotals = (b: BufferStore, account: string, period = JAN) =>
    Object.fromEntries(b.billing.bands(account, period.start).map((t) => [t.band, fromBytes(t.ciphertext)]));

  it('folds each band of a cost-only period into its own total, and keeps no packed total', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n, { band: 0 }));
    b.storeReading(reading('m1', 1, 5n, { band: 1 }));
    b.storeReading(reading('m1', 2, 7n, { band: 0 }));
    b.storeReading(reading('m2', 0, 11n, { band: 1, account: 'ACC-m1' }));
    expect(b.foldBills('cost-only', 3)).toBe(4);
    expect(b.billing.get('ACC-m1', JAN.start)).toMatchObject({
      reveal: 'cost-only',
      ciphertext: null,
      intervals: 4,
      closed: false,
    });
    expect(bandTotals(b, 'ACC-m1')).toEqual({ 0: 21n, 1: 55n });
    // Later readings multiply into the band totals, modulo n².
    b.storeReading(reading('m1', 3, N2 - 1n, { band: 1 }));
    b.foldBills('cost-only');
    expect(bandTotals(b, 'ACC-m1')).toEqual({ 0: 21n, 1: N2 - 55n });
    expect(b.billing.get('ACC-m1', JAN.start)?.intervals).toBe(5);
    expect(b.billing.openCount('cost-only')).toBe(1);
    expect(b.billing.openCount('bands')).toBe(0);
  });

  it('a period keeps the mode it was opened with; a new mode applies to periods opened afterwards', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n, { band: 0 }));
    b.storeReading(reading('m2', 0, 13n, { band: 1 }));
    b.foldBills('bands');
    // The mode changes (billing.reveal: cost-only): January goes on as "bands", February opens as cost-only.
    b.storeReading(reading('m1', 1, 5n, { band: 1 }));
    b.storeReading(reading('m1', 2, 7n, { band: 0, period: FEB, currentPeriod: FEB }));
    b.foldBills('cost-only');
    expect(bill(b, 'ACC-m1', JAN)).toEqual({ ciphertext: 15n, intervals: 2, closed: false });
    expect(b.billing.get('ACC-m1', JAN.start)?.reveal).toBe('bands');
    expect(b.billing.bands('ACC-m1', JAN.start)).toEqual([]);
    expect(b.billing.get('ACC-m1', FEB.start)).toMatchObject({ reveal: 'cost-only', ciphertext: null });
    expect(bandTotals(b, 'ACC-m1', FEB)).toEqual({ 0: 7n });
    // And back (billing.reveal: bands): February stays cost-only to its end, March opens as "bands".
    b.storeReading(reading('m1', 3, 11n, { band: 0, period: FEB, currentPeriod: FEB }));
    b.storeReading(reading('m1', 4, 17n, { band: 1, period: MAR, currentPeriod: MAR }));
    b.foldBills('bands');
    expect(bandTotals(b, 'ACC-m1', FEB)).toEqual({ 0: 77n });
    expect(b.billing.get('ACC-m1', FEB.start)?.intervals).toBe(2);
    expect(bill(b, 'ACC-m1', MAR)).toEqual({ ciphertext: 17n, intervals: 1, closed: false });
    expect(b.billing.get('ACC-m1', MAR.start)?.reveal).toBe('bands');
    // An account that had no January reading yet opens January in the mode of the moment.
    expect(b.billing.get('ACC-m2', JAN.start)?.reveal).toBe('bands');
    // The mode is kept across a restart: it is in the row, not in memory.
    const file = b.db.name;
    b.close();
    const again = openBuffer(file);
    expect(again.billing.get('ACC-m1', FEB.start)?.reveal).toBe('cost-only');
    expect(again.billsDue(FEB.end, 'bands').map((r) => [r.account, r.periodStart, r.reveal])).toEqual([
      ['ACC-m1', JAN.start, 'bands'],
      ['ACC-m2', JAN.start, 'bands'],
      ['ACC-m1', FEB.start, 'cost-only'],
    ]);
  });

  it('the acknowledgement of a cost-only bill deletes its band totals too', () => {
    const b = openBuffer(tempFile());
    b.storeReading(reading('m1', 0, 3n, { band: 0 }));
    b.storeReading(reading('m1', 1, 5n, { band: 1 }));
    const [row] = b.billsDue(JAN.end, 'cost-only');
    b.closePeriod(
      row!,
      record('bill:m1', 'bill', 100, { period: { account: 'ACC-m1', periodStart: JAN.start } }),
    );
    const batch = b.createBatch(10, 200, (seq) => ({
      batchId: `batch-${seq}`,
      message: 'm',
      bodyDigest: 'd',
    }))!;
    expect(bandTotals(b, 'ACC-m1')).toEqual({ 0: 3n, 1: 5n });
    expect(b.ackBatch(batch.batchId, 'd')).toBe('acked');
    expect(b.billing.get('ACC-m1', JAN.start)).toBeUndefined();
    expect(b.db.prepare('SELECT COUNT(*) AS n FROM billing_bands').get()).toEqual({ n: 0 });
  });

  it('migration 7 keeps a version-6 database: totals stay "bands", queued readings without a band open "bands"', () => {
    const file = tempFile();
    // A file as the previous release left it: schema version 6, a running total and queued readings.
    const raw = openDatabase(file, { synchronous: 'NORMAL' }, MIGRATIONS.slice(0, 6));
    raw
      .prepare(
        'INSERT INTO billing_periods (account, period_start, period_end, ciphertext, intervals) VALUES (?, ?, ?, ?, ?)',
      )
      .run('ACC-m1', JAN.start, JAN.end, Buffer.from([3]), 1);
    const queue = raw.prepare(
      'INSERT INTO pending_bills (account, period_start, period_end, ciphertext) VALUES (?, ?, ?, ?)',
    );
    queue.run('ACC-m1', JAN.start, JAN.end, Buffer.from([5]));
    queue.run('ACC-m2', FEB.start, FEB.end, Buffer.from([7]));
    raw.close();

    const b = openBuffer(file);
    expect(b.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(b.billing.get('ACC-m1', JAN.start)).toMatchObject({
      reveal: 'bands',
      intervals: 1,
      closed: false,
    });
    expect(b.pendingBills.first(10).map((r) => r.band)).toEqual([null, null]);
    // Folded in cost-only mode, the old period and a period opened by a reading without a band stay "bands".
    b.storeReading(reading('m2', 0, 11n, { band: 1, period: FEB, currentPeriod: FEB }));
    b.storeReading(reading('m3', 0, 13n, { band: 1, period: FEB, currentPeriod: FEB }));
    b.foldBills('cost-only');
    expect(bill(b, 'ACC-m1', JAN)).toEqual({ ciphertext: 15n, intervals: 2, closed: false });
    expect(bill(b, 'ACC-m2', FEB)).toEqual({ ciphertext: 77n, intervals: 2, closed: false });
    // A period first seen with a banded reading opens in cost-only mode.
    expect(b.billing.get('ACC-m3', FEB.start)?.reveal).toBe('cost-only');
    expect(bandTotals(b, 'ACC-m3', FEB)).toEqual({ 1: 13n });
    // The schema refuses a cost-only row with a packed total, and a bands row without one.
    expect(() =>
      b.billing.put({
        account: 'x',
        periodStart: 0,
        periodEnd: 1,
        reveal: 'cost-only',
        ciphertext: Buffer.from([1]),
        intervals: 1,
      }),
    ).toThrow(/CHECK constraint/);
    expect(() =>
      b.billing.put({
        account: 'x',
        periodStart: 0,
        periodEnd: 1,
        reveal: 'bands',
        ciphertext: null,
        intervals: 1,
      }),
    ).toThrow(/CHECK constraint/);
  });
});

describe('batches and acknowledgements', () => {
  const build = (seq: number, records: OutboxRecord[]) => ({
    batchId: `batch-${seq}`,
    message: JSON.stringify({ seq, records: records.map((r) => r.recordId) }),
    bodyDigest: `digest-${seq}`,
  });

  it('createBatch takes the oldest unbatched records and numbers batches persistently', () => {
    const file = tempFile();
    const b = openBuffer(file);
    b.outbox.add(record('r3', 'suppressed', 30));
    b.outbox.add(record('r1', 'aggregate', 10));
    b.outbox.add(record('r2', 'bill', 20));
    const seen: [number, string[]][] = [];
    const first = b.createBatch(2, 1000, (seq, records) => {
      seen.push([seq, records.map((r) => r.recordId)]);
      return build(seq, records);
    });
    expect(seen).toEqual([[1, ['r1', 'r2']]]);
    expect(first).toEqual({
      batchId: 'batch-1',
      message: JSON.stringify({ seq: 1, records: ['r1', 'r2'] }),
      bodyDigest: 'digest-1',
      seq: 1,
      nextAttemptAt: 1000,
      attempts: 0,
      rebuilds: 0,
    });
    expect(
      b.outbox
        .recordsOf('batch-1')
        .map((r) => r.recordId)
        .sort(),
    ).toEqual(['r1', 'r2']);
    expect(b.outbox.unbatched(10).map((r) => r.recordId)).toEqual(['r3']);
    expect(b.outbox.counts()).toEqual({ records: 3, unbatched: 1, batches: 1 });

    expect(b.createBatch(2, 2000, build)?.seq).toBe(2);
    // Nothing left: no batch, and no sequence number used up.
    expect(b.createBatch(2, 3000, build)).toBeUndefined();
    b.close();

    const again = openBuffer(file);
    expect(again.outbox.batch('batch-1')).toMatchObject({ seq: 1, bodyDigest: 'digest-1', attempts: 0 });
    expect(again.outbox.batch('batch-2')?.message).toBe(JSON.stringify({ seq: 2, records: ['r3'] }));
    again.outbox.add(record('r4', 'aggregate', 40));
    expect(again.createBatch(2, 4000, build)?.seq).toBe(3);
  });

  it('a failing build rolls the batch back: records stay unbatched and the sequence number is not used', () => {
    const b = openBuffer(tempFile());
    b.outbox.add(record('r1', 'aggregate', 10));
    expect(() =>
      b.createBatch(10, 0, () => {
        throw new Error('signing failed');
      }),
    ).toThrow('signing failed');
    expect(b.outbox.counts()).toEqual({ records: 1, unbatched: 1, batches: 0 });
    expect(b.createBatch(10, 0, build)?.seq).toBe(1);
  });

  /** Two groups and two accounts; group 0 and ACC-m1's January bill are released and batched together. */
  function released(b: BufferStore) {
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m2', 0, 5n));
    b.storeReading(reading('m1', 1, 7n));
    b.storeReading(reading('m2', 1, 11n, { account: 'ACC-m1' }));
    b.decideGroup(group(0), 'released', record('agg:0', 'aggregate', 100, { group: group(0) }));
    b.closePeriod(
      b.billsDue(JAN.end).find((row) => row.account === 'ACC-m1')!,
      record('bill:m1', 'bill', 100, {
        period: { account: 'ACC-m1', periodStart: JAN.start },
      }),
    );
    return b.createBatch(10, 200, build)!;
  }

  it('an acknowledgement with the wrong digest deletes nothing', () => {
    const b = openBuffer(tempFile());
    const batch = released(b);
    const before = dump(b);
    expect(b.ackBatch(batch.batchId, 'digest-of-something-else')).toBe('digest-mismatch');
    expect(dump(b)).toEqual(before);
  });

  it('the right acknowledgement deletes the batch, its records, the group readings and the bill period', () => {
    const b = openBuffer(tempFile());
    const batch = released(b);
    expect(b.readings.pendingCount()).toBe(4);
    expect(b.ackBatch(batch.batchId, batch.bodyDigest)).toBe('acked');
    expect(b.outbox.batch(batch.batchId)).toBeUndefined();
    expect(b.outbox.counts()).toEqual({ records: 0, unbatched: 0, batches: 0 });
    expect(b.readings.ciphertexts(group(0))).toEqual([]);
    expect(b.billing.get('ACC-m1', JAN.start)).toBeUndefined();
    // What was not in the batch stays: the undecided group 1 and ACC-m2's open bill.
    expect(b.readings.ciphertexts(group(1)).map((r) => r.meterId)).toEqual(['m1', 'm2']);
    expect(b.readings.pendingCount()).toBe(2);
    expect(bill(b, 'ACC-m2')).toEqual({ ciphertext: 5n, intervals: 1, closed: false });
    // The decision outlives the acknowledgement, so the group is never released again.
    expect(b.readings.isDecided(group(0))).toBe(true);
    expect(b.readings.due(Number.MAX_SAFE_INTEGER)).toEqual([group(1)]);
    // A repeated acknowledgement finds nothing.
    expect(b.ackBatch(batch.batchId, batch.bodyDigest)).toBe('unknown');
  });

  it('an unknown batch id is "unknown" and deletes nothing', () => {
    const b = openBuffer(tempFile());
    released(b);
    const before = dump(b);
    expect(b.ackBatch('batch-99', 'digest-1')).toBe('unknown');
    expect(dump(b)).toEqual(before);
  });
});

describe('enforceLimits', () => {
  const DAY = 86_400_000;

  it('drops the oldest unbatched aggregates beyond maxOutboxRecords, never bills nor batched records', () => {
    const metrics = new Metrics();
    const b = openBuffer(tempFile(), { maxPendingReadings: 1000, maxOutboxRecords: 5 }, metrics);
    b.storeReading(reading('m1', 1, 3n));
    b.storeReading(reading('m1', 4, 5n));
    b.outbox.add(record('a0', 'aggregate', 0, { group: group(0) }));
    b.createBatch(1, 0, (seq) => ({ batchId: `batch-${seq}`, message: 'm', bodyDigest: 'd' }));
    b.outbox.add(record('b1', 'bill', 0, { period: { account: 'ACC-m1', periodStart: JAN.start } }));
    b.outbox.add(record('b2', 'bill', 1));
    b.outbox.add(record('a1', 'aggregate', 1, { group: group(1) }));
    b.outbox.add(record('s2', 'suppressed', 2, { group: group(2) }));
    b.outbox.add(record('a3', 'aggregate', 3, { group: group(3) }));
    b.outbox.add(record('a4', 'aggregate', 4, { group: group(4) }));
    b.outbox.add(record('a5', 'aggregate', 5, { group: group(5) }));
    // 8 records, limit 5: the three oldest droppable ones go.
    expect(b.enforceLimits(10, 365 * DAY)).toBe(3);
    const left = b.db.prepare('SELECT record_id FROM outbox ORDER BY record_id').pluck().all();
    expect(left).toEqual(['a0', 'a4', 'a5', 'b1', 'b2']);
    expect(metrics.get('buffer.outbox_dropped.aggregate')).toBe(2);
    expect(metrics.get('buffer.outbox_dropped.suppressed')).toBe(1);
    expect(metrics.get('buffer.outbox_dropped.bill')).toBe(0);
    // The dropped group's readings go with it; a kept group's stay, and so does the bill.
    expect(b.readings.ciphertexts(group(1))).toEqual([]);
    expect(b.readings.ciphertexts(group(4)).map((r) => r.meterId)).toEqual(['m1']);
    expect(b.readings.pendingCount()).toBe(1);
    expect(bill(b, 'ACC-m1')).toEqual({ ciphertext: 15n, intervals: 2, closed: false });
    // Within the limit now: nothing more goes.
    expect(b.enforceLimits(10, 365 * DAY)).toBe(0);
  });

  it('among groups decided at the same moment, drops the oldest intervals first, whatever the neighbourhood', () => {
    const metrics = new Metrics();
    const b = openBuffer(tempFile(), { maxPendingReadings: 1000, maxOutboxRecords: 3 }, metrics);
    // One tick decided six groups (a stall or a restart had let them pile up): one moment for all.
    for (const i of [0, 1, 2]) {
      for (const nb of ['east', 'north']) {
        b.outbox.add(record(`agg:${nb}:${i}`, 'aggregate', 10, { group: group(i, nb) }));
      }
    }
    expect(b.enforceLimits(10, 365 * DAY)).toBe(3);
    const left = b.db.prepare('SELECT record_id FROM outbox ORDER BY record_id').pluck().all();
    expect(left).toEqual(['agg:east:2', 'agg:north:1', 'agg:north:2']);
  });

  it('among groups decided at the same moment, batches the oldest intervals first, as it would drop them', () => {
    const b = openBuffer(tempFile());
    for (const i of [0, 1, 2]) {
      for (const nb of ['east', 'north']) {
        b.outbox.add(record(`agg:${nb}:${i}`, 'aggregate', 10, { group: group(i, nb) }));
      }
    }
    const seen: string[][] = [];
    b.createBatch(3, 1000, (seq, records) => {
      seen.push(records.map((r) => r.recordId));
      return { batchId: `batch-${seq}`, message: '{}', bodyDigest: `digest-${seq}` };
    });
    expect(seen).toEqual([['agg:east:0', 'agg:north:0', 'agg:east:1']]);
  });

  it('never drops bills, however far over the limit', () => {
    const metrics = new Metrics();
    const b = openBuffer(tempFile(), { maxPendingReadings: 1000, maxOutboxRecords: 1 }, metrics);
    for (let i = 0; i < 4; i++) b.outbox.add(record(`bill-${i}`, 'bill', i));
    expect(b.enforceLimits(10, 365 * DAY)).toBe(0);
    expect(b.outbox.counts().records).toBe(4);
    expect(metrics.snapshot()).toEqual({});
  });

  it('drops unbatched aggregates older than the maximum age even below the limit', () => {
    const metrics = new Metrics();
    const b = openBuffer(tempFile(), ROOMY, metrics);
    const now = 100 * DAY;
    b.outbox.add(record('old', 'aggregate', now - 36 * DAY));
    b.outbox.add(record('old-bill', 'bill', now - 40 * DAY));
    b.outbox.add(record('recent', 'suppressed', now - 34 * DAY));
    expect(b.enforceLimits(now, 35 * DAY)).toBe(1);
    expect(b.db.prepare('SELECT record_id FROM outbox ORDER BY record_id').pluck().all()).toEqual([
      'old-bill',
      'recent',
    ]);
    expect(metrics.get('buffer.outbox_dropped.aggregate')).toBe(1);
  });
});

describe('durability', () => {
  it('keeps readings, cursors, decisions, bills, records, batches and state across close and re-open', () => {
    const file = tempFile();
    const b = openBuffer(file);
    b.storeReading(reading('m1', 0, 3n));
    b.storeReading(reading('m2', 0, 5n));
    b.storeReading(reading('m1', 1, 7n));
    b.decideGroup(group(0), 'suppressed', record('agg:0', 'suppressed', 100, { group: group(0) }));
    b.outbox.add(record('bill:x', 'bill', 50, { period: { account: 'ACC-m2', periodStart: JAN.start } }));
    b.createBatch(1, 200, (seq) => ({ batchId: `batch-${seq}`, message: 'signed', bodyDigest: 'd1' }));
    b.state.set('clock.virtual_now', '12345');
    const before = dump(b);
    b.close();
    expect(b.db.open).toBe(false);

    const again = openBuffer(file);
    expect(dump(again)).toEqual(before);
    expect(again.readings.pendingCount()).toBe(3);
    expect(again.readings.isDecided(group(0))).toBe(true);
    expect(again.state.get('clock.virtual_now')).toBe('12345');
    expectCode('READING_DUPLICATE', () => again.storeReading(reading('m1', 1, 9n)));
    expect(again.storeReading(reading('m2', 0, 9n, { meterId: 'm3' })).aggregation).toBe('late');
    expect(again.ackBatch('batch-1', 'd1')).toBe('acked');
  });
});
