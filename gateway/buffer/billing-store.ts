/**
 * Running encrypted totals per billing account and period (homomorphic sums of every reading of the period).
 * A period keeps the reveal mode it was opened with: "bands" keeps one packed total, "cost-only" one total per
 * tariff band (`billing_bands`), priced when the bill is closed (gateway/aggregate/bill-cost.ts).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

/** What a bill reveals to the supplier (billing.reveal). */
export type RevealMode = 'bands' | 'cost-only';

export interface BillingPeriodRow {
  account: string;
  periodStart: number;
  periodEnd: number;
  reveal: RevealMode;
  /** The packed total of a "bands" period; null for a "cost-only" one (its totals are per band). */
  ciphertext: Buffer | null;
  intervals: number;
  closed: boolean;
}

export interface BandTotal {
  band: number;
  ciphertext: Buffer;
}

interface Row {
  account: string;
  period_start: number;
  period_end: number;
  reveal: RevealMode;
  ciphertext: Buffer | null;
  intervals: number;
  closed: number;
}

const toRow = (r: Row): BillingPeriodRow => ({
  account: r.account,
  periodStart: r.period_start,
  periodEnd: r.period_end,
  reveal: r.reveal,
  ciphertext: r.ciphertext,
  intervals: r.intervals,
  closed: r.closed === 1,
});

export class BillingStore {
  private readonly getStmt: Statement<[string, number], Row>;
  private readonly closedStmt: Statement<[string, number], { closed: number }>;
  private readonly upsertStmt: Statement<[string, number, number, RevealMode, Buffer | null, number]>;
  private readonly dueStmt: Statement<[number], Row>;
  private readonly closeStmt: Statement<[string, number]>;
  private readonly deleteStmt: Statement<[string, number]>;
  private readonly bandsStmt: Statement<[string, number], BandTotal>;
  private readonly upsertBandStmt: Statement<[string, number, number, Buffer]>;
  private readonly deleteBandsStmt: Statement<[string, number]>;
  private readonly openStmt: Statement<[RevealMode], { n: number }>;
  private readonly openOfStmt: Statement<[string], { period_start: number }>;

  constructor(db: Db) {
    this.getStmt = db.prepare('SELECT * FROM billing_periods WHERE account = ? AND period_start = ?');
    this.closedStmt = db.prepare('SELECT closed FROM billing_periods WHERE account = ? AND period_start = ?');
    // The reveal mode is written when the period is opened and never changed.
    this.upsertStmt = db.prepare(
      `INSERT INTO billing_periods (account, period_start, period_end, reveal, ciphertext, intervals)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (account, period_start) DO UPDATE SET ciphertext = excluded.ciphertext, intervals = excluded.intervals`,
    );
    this.dueStmt = db.prepare(
      'SELECT * FROM billing_periods WHERE closed = 0 AND period_end <= ? ORDER BY period_start, account',
    );
    this.closeStmt = db.prepare(
      'UPDATE billing_periods SET closed = 1 WHERE account = ? AND period_start = ?',
    );
    this.deleteStmt = db.prepare('DELETE FROM billing_periods WHERE account = ? AND period_start = ?');
    this.bandsStmt = db.prepare(
      'SELECT band, ciphertext FROM billing_bands WHERE account = ? AND period_start = ? ORDER BY band',
    );
    this.upsertBandStmt = db.prepare(
      `INSERT INTO billing_bands (account, period_start, band, ciphertext) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, period_start, band) DO UPDATE SET ciphertext = excluded.ciphertext`,
    );
    this.deleteBandsStmt = db.prepare('DELETE FROM billing_bands WHERE account = ? AND period_start = ?');
    this.openStmt = db.prepare('SELECT COUNT(*) AS n FROM billing_periods WHERE closed = 0 AND reveal = ?');
    this.openOfStmt = db.prepare(
      'SELECT period_start FROM billing_periods WHERE account = ? AND closed = 0 ORDER BY period_start',
    );
  }

  get(account: string, periodStart: number): BillingPeriodRow | undefined {
    const r = this.getStmt.get(account, periodStart);
    return r && toRow(r);
  }

  /** True when the period's bill has been released (its total is final). */
  isClosed(account: string, periodStart: number): boolean {
    return this.closedStmt.get(account, periodStart)?.closed === 1;
  }

  put(row: Omit<BillingPeriodRow, 'closed'>): void {
    this.upsertStmt.run(
      row.account,
      row.periodStart,
      row.periodEnd,
      row.reveal,
      row.ciphertext,
      row.intervals,
    );
  }

  /** The per-band totals of a cost-only period, by band index. */
  bands(account: string, periodStart: number): BandTotal[] {
    return this.bandsStmt.all(account, periodStart);
  }

  putBand(account: string, periodStart: number, total: BandTotal): void {
    this.upsertBandStmt.run(account, periodStart, total.band, total.ciphertext);
  }

  /** How many periods opened in this mode are still open. */
  openCount(reveal: RevealMode): number {
    return this.openStmt.get(reveal)!.n;
  }

  /** The starts of the account's open periods. */
  openPeriods(account: string): number[] {
    return this.openOfStmt.all(account).map((r) => r.period_start);
  }

  /** Open periods that ended at or before `maxEnd`. */
  due(maxEnd: number): BillingPeriodRow[] {
    return this.dueStmt.all(maxEnd).map(toRow);
  }

  close(account: string, periodStart: number): void {
    this.closeStmt.run(account, periodStart);
  }

  delete(account: string, periodStart: number): void {
    this.deleteStmt.run(account, periodStart);
    this.deleteBandsStmt.run(account, periodStart);
  }
}
