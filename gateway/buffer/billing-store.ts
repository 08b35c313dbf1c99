/** Running encrypted totals per billing account and period (homomorphic sums of every reading of the period). */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export interface BillingPeriodRow {
  account: string;
  periodStart: number;
  periodEnd: number;
  ciphertext: Buffer;
  intervals: number;
  closed: boolean;
}

interface Row {
  account: string;
  period_start: number;
  period_end: number;
  ciphertext: Buffer;
  intervals: number;
  closed: number;
}

const toRow = (r: Row): BillingPeriodRow => ({
  account: r.account,
  periodStart: r.period_start,
  periodEnd: r.period_end,
  ciphertext: r.ciphertext,
  intervals: r.intervals,
  closed: r.closed === 1,
});

export class BillingStore {
  private readonly getStmt: Statement<[string, number], Row>;
  private readonly closedStmt: Statement<[string, number], { closed: number }>;
  private readonly upsertStmt: Statement<[string, number, number, Buffer, number]>;
  private readonly dueStmt: Statement<[number], Row>;
  private readonly closeStmt: Statement<[string, number]>;
  private readonly deleteStmt: Statement<[string, number]>;

  constructor(db: Db) {
    this.getStmt = db.prepare('SELECT * FROM billing_periods WHERE account = ? AND period_start = ?');
    this.closedStmt = db.prepare('SELECT closed FROM billing_periods WHERE account = ? AND period_start = ?');
    this.upsertStmt = db.prepare(
      `INSERT INTO billing_periods (account, period_start, period_end, ciphertext, intervals) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account, period_start) DO UPDATE SET ciphertext = excluded.ciphertext, intervals = excluded.intervals`,
    );
    this.dueStmt = db.prepare(
      'SELECT * FROM billing_periods WHERE closed = 0 AND period_end <= ? ORDER BY period_start, account',
    );
    this.closeStmt = db.prepare(
      'UPDATE billing_periods SET closed = 1 WHERE account = ? AND period_start = ?',
    );
    this.deleteStmt = db.prepare('DELETE FROM billing_periods WHERE account = ? AND period_start = ?');
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
    this.upsertStmt.run(row.account, row.periodStart, row.periodEnd, row.ciphertext, row.intervals);
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
  }
}
