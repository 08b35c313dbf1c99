/**
 * Billing periods withheld after a removal (issue #14). A removal ends a household's meter mid-period: the open
 * bill of its account would then hold only the intervals before the removal (one interval = that household's
 * exact reading), or mix the account's remaining meters with a partial of the removed one. So every open period
 * of an account that lost a meter is withheld: its totals are deleted and no later reading is billed into it.
 * The set is small (accounts touched by removals) and kept in memory too, so the check at intake costs no query.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export interface WithheldPeriod {
  account: string;
  periodStart: number;
}

const key = (account: string, periodStart: number) => `${account}\u0000${periodStart}`;

export class WithheldBillsStore {
  private readonly insertStmt: Statement<[string, number, number, string]>;
  private readonly keys = new Set<string>();

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT OR IGNORE INTO withheld_bills (account, period_start, withheld_at, reason) VALUES (?, ?, ?, ?)`,
    );
    const rows = db.prepare('SELECT account, period_start FROM withheld_bills').all() as {
      account: string;
      period_start: number;
    }[];
    for (const r of rows) this.keys.add(key(r.account, r.period_start));
  }

  /** True when the account's period starting at `periodStart` is withheld: nothing more is billed into it. */
  has(account: string, periodStart: number): boolean {
    return this.keys.size > 0 && this.keys.has(key(account, periodStart));
  }

  /**
   * Records a withheld period (inside the caller's transaction); false when it already was. The in-memory set
   * is updated by `noteCommitted` once the transaction has committed, so a rolled-back withholding leaves no trace.
   */
  add(p: WithheldPeriod, now: number, reason: string): boolean {
    return this.insertStmt.run(p.account, p.periodStart, now, reason).changes === 1;
  }

  noteCommitted(periods: readonly WithheldPeriod[]): void {
    for (const p of periods) this.keys.add(key(p.account, p.periodStart));
  }
}
