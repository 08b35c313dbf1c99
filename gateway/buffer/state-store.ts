/** Small persistent values: the batch sequence number, the virtual clock, the data clock's high-water mark. */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

/**
 * The latest data time the gateway acted on: raised with every group decided and bill closed (in the same
 * transaction) and once per interval; a restarted gateway's data clock never reads earlier (time/steady-clock.ts).
 */
export const HIGH_WATER_KEY = 'clock.high_water';

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

  /** Sets a numeric value unless a larger one is stored already. */
  raise(key: string, value: number): void {
    if (!(Number(this.get(key)) >= value)) this.set(key, String(value));
  }

  /** Returns the next value of a persistent counter (call inside the transaction that uses it). */
  next(key: string): number {
    const value = Number(this.get(key) ?? '0') + 1;
    this.set(key, String(value));
    return value;
  }
}
