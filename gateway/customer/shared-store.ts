/**
 * What the gateway keeps for third parties' streams (SQLite): which slots of each open span have gone out
 * (shared_sent: ids and times only, no values) and the sealed messages the broker has not acknowledged yet
 * (shared_outbox). Neither holds anything the gateway could read a reading from.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../buffer/database.ts';

export interface OutgoingMessage {
  topic: string;
  message: string;
}

export interface OpenSpan {
  consentId: string;
  start: number;
  end: number;
  slots: number[];
}

export class SharedStore {
  private readonly markStmt: Statement<[string, number, number, number]>;
  private readonly queueStmt: Statement<[string, string]>;
  private readonly openStmt: Statement<
    [number],
    { consent_id: string; span_start: number; span_end: number; slots: string }
  >;
  private readonly dropStmt: Statement<[string, number]>;
  private readonly pendingStmt: Statement<[number], { id: number; topic: string; message: string }>;
  private readonly removeStmt: Statement<[number]>;
  private readonly countStmt: Statement<[], { n: number }>;

  constructor(private readonly db: Db) {
    this.markStmt = db.prepare(
      'INSERT OR IGNORE INTO shared_sent (consent_id, span_start, span_end, slot) VALUES (?, ?, ?, ?)',
    );
    this.queueStmt = db.prepare('INSERT INTO shared_outbox (topic, message) VALUES (?, ?)');
    this.openStmt = db.prepare(
      `SELECT consent_id, span_start, span_end, group_concat(slot) AS slots FROM shared_sent
       WHERE span_end <= ? GROUP BY consent_id, span_start ORDER BY span_start`,
    );
    this.dropStmt = db.prepare('DELETE FROM shared_sent WHERE consent_id = ? AND span_start = ?');
    this.pendingStmt = db.prepare(
      'SELECT rowid AS id, topic, message FROM shared_outbox ORDER BY rowid LIMIT ?',
    );
    this.removeStmt = db.prepare('DELETE FROM shared_outbox WHERE rowid = ?');
    this.countStmt = db.prepare('SELECT COUNT(*) AS n FROM shared_outbox');
  }

  /**
   * Records that a span's slot goes out and queues its message, atomically; false (nothing queued) when that slot
   * has gone out already (a reading delivered twice).
   */
  send(consentId: string, span: { start: number; end: number }, slot: number, out: OutgoingMessage): boolean {
    return this.db.transaction(() => {
      if (this.markStmt.run(consentId, span.start, span.end, slot).changes === 0) return false;
      this.queueStmt.run(out.topic, out.message);
      return true;
    })();
  }

  /** Spans with at least one slot sent that end at or before `endedBy`, oldest first. */
  openSpans(endedBy: number): OpenSpan[] {
    return this.openStmt.all(endedBy).map((r) => ({
      consentId: r.consent_id,
      start: r.span_start,
      end: r.span_end,
      slots: r.slots.split(',').map(Number),
    }));
  }

  /** Closes a span: forgets its slots and queues the messages that complete it, atomically. */
  closeSpan(span: OpenSpan, out: readonly OutgoingMessage[]): void {
    this.db.transaction(() => {
      for (const m of out) this.queueStmt.run(m.topic, m.message);
      this.dropStmt.run(span.consentId, span.start);
    })();
  }

  /** The oldest queued messages. */
  pending(limit: number): (OutgoingMessage & { id: number })[] {
    return this.pendingStmt.all(limit);
  }

  /** Deletes a message the broker has acknowledged. */
  remove(id: number): void {
    this.removeStmt.run(id);
  }

  get queued(): number {
    return this.countStmt.get()!.n;
  }
}
