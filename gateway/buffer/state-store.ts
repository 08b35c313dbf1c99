/** Small persistent values: the batch sequence number, the virtual clock. */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export class StateStore {
  private readonly getStmt: Statement<[string], { value: string }>;
  private readonly setStmt: Statement<[string, string]>;

  constructor(db: Db) {
    this.getStmt = db.prepare('SELECT value FROM state WHERE key = ?');
    this.setStmt = db.prepare(
      'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }

  set(key: string, value: string): void {
    this.setStmt.run(key, value);
  }

  /** Returns the next value of a persistent counter (call inside the transaction that uses it). */
  next(key: string): number {
    const value = Number(this.get(key) ?? '0') + 1;
    this.set(key, String(value));
    return value;
  }
}
