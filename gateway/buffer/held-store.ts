/**
 * Ciphertexts of readings from ahead of the gateway's clock (`held_readings`), kept until the clock reaches
 * them. The gateway's clock is not trusted blindly: a Pi without a real-time clock boots at the time it was
 * last shut down and runs behind until NTP sets it, while the meters' clocks are right. Dropping those readings
 * would lose data the meters cannot send again; holding their ciphertexts (never a plaintext) loses nothing.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export interface HeldReading {
  meterId: string;
  intervalStart: number;
  intervalEnd: number;
  ciphertext: Buffer;
}

interface Row {
  meter_id: string;
  interval_start: number;
  interval_end: number;
  ciphertext: Buffer;
}

export class HeldStore {
  private readonly insertStmt: Statement<[string, number, number, Buffer, number]>;
  private readonly dueStmt: Statement<[number, number], Row>;
  private readonly deleteStmt: Statement<[string, number]>;
  private readonly countStmt: Statement<[], { n: number; earliest: number | null }>;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT OR IGNORE INTO held_readings (meter_id, interval_start, interval_end, ciphertext, held_at)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.dueStmt = db.prepare(
      `SELECT meter_id, interval_start, interval_end, ciphertext FROM held_readings
       WHERE interval_end <= ? ORDER BY interval_end, meter_id LIMIT ?`,
    );
    this.deleteStmt = db.prepare('DELETE FROM held_readings WHERE meter_id = ? AND interval_start = ?');
    this.countStmt = db.prepare('SELECT COUNT(*) AS n, MIN(interval_end) AS earliest FROM held_readings');
  }

  /** Holds a ciphertext; false when the same meter and interval is already held (a repeat). */
  hold(r: HeldReading, now: number): boolean {
    return this.insertStmt.run(r.meterId, r.intervalStart, r.intervalEnd, r.ciphertext, now).changes === 1;
  }

  /** Held readings that end at or before `maxEnd`, oldest first. */
  due(maxEnd: number, limit: number): HeldReading[] {
    return this.dueStmt.all(maxEnd, limit).map((r) => ({
      meterId: r.meter_id,
      intervalStart: r.interval_start,
      intervalEnd: r.interval_end,
      ciphertext: r.ciphertext,
    }));
  }

  delete(meterId: string, intervalStart: number): void {
    this.deleteStmt.run(meterId, intervalStart);
  }

  /** How many are held and the earliest end among them (undefined when none), for health and logs. */
  summary(): { count: number; earliestEnd: number | undefined } {
    const r = this.countStmt.get()!;
    return { count: r.n, earliestEnd: r.earliest ?? undefined };
  }
}
