/** Per-meter interval ciphertexts awaiting aggregation, the per-meter cursor and the decided groups. */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

export interface Group {
  neighbourhood: string;
  intervalStart: number;
}

/**
 * Every group whose interval started at or before this is decided, whether or not `decided_groups` still has its
 * row: set when a loss is accepted (marker-check.ts), since the lost buffer had decided those groups and a
 * second release would reveal what differs between the two (privacy invariant 2).
 */
export const DECIDED_FLOOR_KEY = 'readings.decided_floor';

export class ReadingsStore {
  private readonly cursorGet: Statement<[string], { last: number }>;
  private readonly cursorSet: Statement<[string, number]>;
  private readonly insertStmt: Statement<[string, string, number, Buffer]>;
  private readonly decidedGet: Statement<[string, number], { outcome: string }>;
  private readonly decideStmt: Statement<[string, number, string, number]>;
  private readonly dueStmt: Statement<[number], { neighbourhood: string; interval_start: number }>;
  private readonly groupStmt: Statement<[string, number], { meter_id: string; ciphertext: Buffer }>;
  private readonly deleteGroupStmt: Statement<[string, number]>;
  private readonly pruneStmt: Statement<[number]>;
  private pending: number;
  private decidedFloor: number;

  constructor(db: Db) {
    this.cursorGet = db.prepare('SELECT last_interval_start AS last FROM meter_cursors WHERE meter_id = ?');
    this.cursorSet = db.prepare(
      `INSERT INTO meter_cursors (meter_id, last_interval_start) VALUES (?, ?)
       ON CONFLICT (meter_id) DO UPDATE SET last_interval_start = excluded.last_interval_start`,
    );
    this.insertStmt = db.prepare(
      'INSERT INTO readings (meter_id, neighbourhood, interval_start, ciphertext) VALUES (?, ?, ?, ?)',
    );
    this.decidedGet = db.prepare(
      'SELECT outcome FROM decided_groups WHERE neighbourhood = ? AND interval_start = ?',
    );
    this.decideStmt = db.prepare(
      'INSERT INTO decided_groups (neighbourhood, interval_start, outcome, decided_at) VALUES (?, ?, ?, ?)',
    );
    this.dueStmt = db.prepare(
      `SELECT DISTINCT r.neighbourhood, r.interval_start FROM readings r
       WHERE r.interval_start <= ? AND NOT EXISTS (
         SELECT 1 FROM decided_groups d WHERE d.neighbourhood = r.neighbourhood AND d.interval_start = r.interval_start)
       ORDER BY r.interval_start, r.neighbourhood`,
    );
    this.groupStmt = db.prepare(
      'SELECT meter_id, ciphertext FROM readings WHERE neighbourhood = ? AND interval_start = ? ORDER BY meter_id',
    );
    this.deleteGroupStmt = db.prepare('DELETE FROM readings WHERE neighbourhood = ? AND interval_start = ?');
    this.pruneStmt = db.prepare('DELETE FROM decided_groups WHERE interval_start < ?');
    this.pending = (db.prepare('SELECT COUNT(*) AS n FROM readings').get() as { n: number }).n;
    const floor = db.prepare('SELECT value FROM state WHERE key = ?').get(DECIDED_FLOOR_KEY) as
      { value: string } | undefined;
    this.decidedFloor = floor ? Number(floor.value) : Number.NEGATIVE_INFINITY;
  }

  /** Raises the decided floor (call inside the transaction that stores it under DECIDED_FLOOR_KEY). */
  raiseDecidedFloor(intervalStart: number): void {
    this.decidedFloor = Math.max(this.decidedFloor, intervalStart);
  }

  cursor(meterId: string): number | undefined {
    return this.cursorGet.get(meterId)?.last;
  }

  setCursor(meterId: string, intervalStart: number): void {
    this.cursorSet.run(meterId, intervalStart);
  }

  insert(meterId: string, neighbourhood: string, intervalStart: number, ciphertext: Buffer): void {
    this.insertStmt.run(meterId, neighbourhood, intervalStart, ciphertext);
  }

  /** Counts inserts once their transaction has committed (a rolled-back insert must not count). */
  noteInserted(count = 1): void {
    this.pending += count;
  }

  /** Readings stored and not yet deleted after their group's acknowledgement. */
  pendingCount(): number {
    return this.pending;
  }

  isDecided(group: Group): boolean {
    return (
      group.intervalStart <= this.decidedFloor ||
      this.decidedGet.get(group.neighbourhood, group.intervalStart) !== undefined
    );
  }

  decide(group: Group, outcome: 'released' | 'suppressed', at: number): void {
    this.decideStmt.run(group.neighbourhood, group.intervalStart, outcome, at);
  }

  /** Undecided groups whose interval started at or before `maxStart`, oldest first. */
  due(maxStart: number): Group[] {
    return this.dueStmt
      .all(maxStart)
      .map((r) => ({ neighbourhood: r.neighbourhood, intervalStart: r.interval_start }));
  }

  ciphertexts(group: Group): { meterId: string; ciphertext: Buffer }[] {
    return this.groupStmt
      .all(group.neighbourhood, group.intervalStart)
      .map((r) => ({ meterId: r.meter_id, ciphertext: r.ciphertext }));
  }

  deleteGroup(group: Group): void {
    this.pending -= this.deleteGroupStmt.run(group.neighbourhood, group.intervalStart).changes;
  }

  /** Forgets decisions about intervals older than any reading the intake still accepts. */
  pruneDecided(before: number): number {
    return this.pruneStmt.run(before).changes;
  }
}
