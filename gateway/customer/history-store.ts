/**
 * Households' history: their readings sealed to their own keys (customer_history). Kept for
 * customers.historyDays, served only to the household whose current key they were sealed to, erased on its
 * signed request (and the space reclaimed, so that nothing of it stays in the file).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../buffer/database.ts';

export interface SealedEntry {
  meterId: string;
  start: number;
  end: number;
  pseudonym: string;
  sealed: string;
}

interface Row {
  interval_start: number;
  interval_end: number;
  sealed: string;
}

export class HistoryStore {
  private readonly insertStmt: Statement<[string, number, number, string, string]>;
  private readonly rangeStmt: Statement<[string, string, number, number, number], Row>;
  private readonly eraseStmt: Statement<[string]>;
  private readonly pruneStmt: Statement<[number]>;
  private readonly countStmt: Statement<[string, string], { n: number }>;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT OR REPLACE INTO customer_history (meter_id, interval_start, interval_end, pseudonym, sealed)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.rangeStmt = db.prepare(
      `SELECT interval_start, interval_end, sealed FROM customer_history
       WHERE meter_id = ? AND pseudonym = ? AND interval_start >= ? AND interval_start < ?
       ORDER BY interval_start LIMIT ?`,
    );
    this.eraseStmt = db.prepare('DELETE FROM customer_history WHERE meter_id = ?');
    this.pruneStmt = db.prepare('DELETE FROM customer_history WHERE interval_end < ?');
    this.countStmt = db.prepare(
      'SELECT COUNT(*) AS n FROM customer_history WHERE meter_id = ? AND pseudonym = ?',
    );
  }

  /** Stores entries in one transaction. */
  add(entries: readonly SealedEntry[]): void {
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const e of entries) this.insertStmt.run(e.meterId, e.start, e.end, e.pseudonym, e.sealed);
    })();
  }

  /** Entries of a meter sealed under `pseudonym` with from ≤ start < to, oldest first, at most `limit`. */
  range(meterId: string, pseudonym: string, from: number, to: number, limit: number): SealedEntry[] {
    return this.rangeStmt.all(meterId, pseudonym, from, to, limit).map((r) => ({
      meterId,
      start: r.interval_start,
      end: r.interval_end,
      pseudonym,
      sealed: r.sealed,
    }));
  }

  /**
   * Deletes a meter's whole history, then checkpoints the WAL and vacuums the file, so that the sealed values
   * are gone from the database file and its WAL, not merely unlinked. Returns how many were deleted. The VACUUM
   * (seconds on a large file on an SD card) runs only when something was deleted, so a household repeating its
   * erase request costs one per new reading at most.
   */
  erase(meterId: string): number {
    const deleted = this.eraseStmt.run(meterId).changes;
    if (deleted === 0) return 0;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return deleted;
  }

  /** How many sealed readings are kept for a meter under a pseudonym. */
  count(meterId: string, pseudonym: string): number {
    return this.countStmt.get(meterId, pseudonym)!.n;
  }

  /** Deletes what is older than the retention. */
  prune(before: number): number {
    return this.pruneStmt.run(before).changes;
  }
}
