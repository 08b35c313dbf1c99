/**
 * Ciphertexts accepted at intake and not yet folded into their account's running total. Appending one row per
 * reading (to the table's last page) and folding them all in one transaction per interval rewrites each
 * account's total once per interval instead of once per reading: far fewer pages written to the SD card.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export interface PendingBill {
  account: string;
  periodStart: number;
  periodEnd: number;
  /** The reading's tariff band; null for a reading queued before buffer schema 7. */
  band: number | null;
  ciphertext: Buffer;
}

interface Row {
  id: number;
  account: string;
  period_start: number;
  period_end: number;
  band: number | null;
  ciphertext: Buffer;
}

export class PendingBillsStore {
  private readonly appendStmt: Statement<[string, number, number, number | null, Buffer]>;
  private readonly firstStmt: Statement<[number], Row>;
  private readonly clearStmt: Statement<[number]>;
  private appended: number;
  private earliestEnd: number;

  constructor(db: Db) {
    this.appendStmt = db.prepare(
      'INSERT INTO pending_bills (account, period_start, period_end, band, ciphertext) VALUES (?, ?, ?, ?, ?)',
    );
    this.firstStmt = db.prepare(
      `SELECT rowid AS id, account, period_start, period_end, band, ciphertext FROM pending_bills
       ORDER BY rowid LIMIT ?`,
    );
    this.clearStmt = db.prepare('DELETE FROM pending_bills WHERE rowid <= ?');
    const summary = db
      .prepare('SELECT COUNT(*) AS n, MIN(period_end) AS earliest FROM pending_bills')
      .get() as { n: number; earliest: number | null };
    this.appended = summary.n;
    this.earliestEnd = summary.earliest ?? Number.POSITIVE_INFINITY;
  }

  append(bill: PendingBill): void {
    this.appendStmt.run(bill.account, bill.periodStart, bill.periodEnd, bill.band, bill.ciphertext);
    // Counted before the commit: a rolled-back append only makes the next fold come a little early.
    this.appended++;
    this.earliestEnd = Math.min(this.earliestEnd, bill.periodEnd);
  }

  /** Rows appended since the last fold (an upper bound). */
  get count(): number {
    return this.appended;
  }

  /** The earliest period end among the pending rows (a lower bound; +∞ when none). */
  get earliestPeriodEnd(): number {
    return this.earliestEnd;
  }

  /** The oldest `limit` pending rows, oldest first, with the id to pass to `clear`. */
  first(limit: number): (PendingBill & { id: number })[] {
    return this.firstStmt.all(limit).map((r) => ({
      id: r.id,
      account: r.account,
      periodStart: r.period_start,
      periodEnd: r.period_end,
      band: r.band,
      ciphertext: r.ciphertext,
    }));
  }

  /** Deletes the rows up to `lastId` (inside the folding transaction). */
  clear(lastId: number): void {
    this.clearStmt.run(lastId);
  }

  /** Called once the folding transaction has committed. */
  noteFolded(): void {
    this.appended = 0;
    this.earliestEnd = Number.POSITIVE_INFINITY;
  }
}
