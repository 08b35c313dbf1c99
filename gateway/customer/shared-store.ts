/**
 * What the gateway keeps for third parties' streams (SQLite): each span's mask seed while it is open and a mark
 * once it is closed (shared_spans), which slots of an open span have gone out (shared_sent: ids and times, no
 * values), and the sealed messages the broker has not acknowledged yet (shared_outbox). Nothing here lets the
 * gateway read a reading; the seeds of closed spans are gone.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../buffer/database.ts';
import { newSeed } from './span-masks.ts';

export interface OutgoingMessage {
  consentId: string;
  topic: string;
  message: string;
}

export interface OpenSpan {
  consentId: string;
  start: number;
  end: number;
  seed: Buffer;
  slots: number[];
}

interface SpanKey {
  start: number;
  end: number;
}

export class SharedStore {
  private readonly spanStmt: Statement<[string, number], { seed: Buffer | null }>;
  private readonly openSpanStmt: Statement<[string, number, number, Buffer]>;
  private readonly markStmt: Statement<[string, number, number, number]>;
  private readonly queueStmt: Statement<[string, string, string]>;
  private readonly dueStmt: Statement<
    [number],
    { consent_id: string; span_start: number; span_end: number; seed: Buffer; slots: string | null }
  >;
  private readonly dropSlotsStmt: Statement<[string, number]>;
  private readonly closeStmt: Statement<[string, number]>;
  private readonly pendingStmt: Statement<
    [number],
    { id: number; consentId: string; topic: string; message: string }
  >;
  private readonly removeStmt: Statement<[number]>;
  private readonly withdrawStmts: Statement<[string]>[];
  private readonly pruneStmt: Statement<[number]>;
  private count: number;

  constructor(private readonly db: Db) {
    this.spanStmt = db.prepare('SELECT seed FROM shared_spans WHERE consent_id = ? AND span_start = ?');
    this.openSpanStmt = db.prepare(
      'INSERT INTO shared_spans (consent_id, span_start, span_end, seed) VALUES (?, ?, ?, ?)',
    );
    this.markStmt = db.prepare(
      'INSERT OR IGNORE INTO shared_sent (consent_id, span_start, span_end, slot) VALUES (?, ?, ?, ?)',
    );
    this.queueStmt = db.prepare('INSERT INTO shared_outbox (consent_id, topic, message) VALUES (?, ?, ?)');
    this.dueStmt = db.prepare(
      `SELECT s.consent_id, s.span_start, s.span_end, s.seed, group_concat(x.slot) AS slots
       FROM shared_spans s LEFT JOIN shared_sent x ON x.consent_id = s.consent_id AND x.span_start = s.span_start
       WHERE s.seed IS NOT NULL AND s.span_end <= ? GROUP BY s.consent_id, s.span_start ORDER BY s.span_start`,
    );
    this.dropSlotsStmt = db.prepare('DELETE FROM shared_sent WHERE consent_id = ? AND span_start = ?');
    this.closeStmt = db.prepare(
      'UPDATE shared_spans SET seed = NULL WHERE consent_id = ? AND span_start = ?',
    );
    this.pendingStmt = db.prepare(
      'SELECT rowid AS id, consent_id AS consentId, topic, message FROM shared_outbox ORDER BY rowid LIMIT ?',
    );
    this.removeStmt = db.prepare('DELETE FROM shared_outbox WHERE rowid = ?');
    this.withdrawStmts = [
      db.prepare('DELETE FROM shared_outbox WHERE consent_id = ?'),
      db.prepare('DELETE FROM shared_sent WHERE consent_id = ?'),
      db.prepare('UPDATE shared_spans SET seed = NULL WHERE consent_id = ?'),
    ];
    this.pruneStmt = db.prepare('DELETE FROM shared_spans WHERE seed IS NULL AND span_end < ?');
    this.count = (db.prepare('SELECT COUNT(*) AS n FROM shared_outbox').get() as { n: number }).n;
  }

  /** The seed of an open span (opening it with a fresh one the first time); undefined once it is closed. */
  seedOf(consentId: string, span: SpanKey): Buffer | undefined {
    const row = this.spanStmt.get(consentId, span.start);
    if (row) return row.seed ?? undefined;
    const seed = newSeed();
    this.openSpanStmt.run(consentId, span.start, span.end, seed);
    return seed;
  }

  /**
   * Records that a slot of an open span goes out and queues its message, atomically. `closed` when the span has
   * been closed meanwhile, `duplicate` when that slot has gone out already (a reading delivered twice).
   */
  send(span: SpanKey, slot: number, out: OutgoingMessage): 'sent' | 'closed' | 'duplicate' {
    return this.db.transaction(() => {
      const row = this.spanStmt.get(out.consentId, span.start);
      if (!row?.seed) return 'closed';
      if (this.markStmt.run(out.consentId, span.start, span.end, slot).changes === 0) return 'duplicate';
      this.queue(out);
      return 'sent';
    })();
  }

  /** Open spans that end at or before `endedBy`, oldest first, with the slots sent. */
  dueSpans(endedBy: number): OpenSpan[] {
    return this.dueStmt.all(endedBy).map((r) => ({
      consentId: r.consent_id,
      start: r.span_start,
      end: r.span_end,
      seed: r.seed,
      slots: r.slots === null ? [] : r.slots.split(',').map(Number),
    }));
  }

  /** Closes a span: queues the messages that complete it, forgets its slots and its seed, atomically. */
  closeSpan(span: OpenSpan, out: readonly OutgoingMessage[]): void {
    this.db.transaction(() => {
      for (const m of out) this.queue(m);
      this.dropSlotsStmt.run(span.consentId, span.start);
      this.closeStmt.run(span.consentId, span.start);
    })();
  }

  /** A consent ended: its queued messages are withdrawn and its open spans closed without their masks. */
  withdraw(consentId: string): number {
    return this.db.transaction(() => {
      const withdrawn = this.withdrawStmts[0]!.run(consentId).changes;
      this.withdrawStmts[1]!.run(consentId);
      this.withdrawStmts[2]!.run(consentId);
      this.count -= withdrawn;
      return withdrawn;
    })();
  }

  /** Forgets the marks of spans closed before `before` (no reading that old is accepted any more). */
  prune(before: number): void {
    this.pruneStmt.run(before);
  }

  /** The oldest queued messages. */
  pending(limit: number): (OutgoingMessage & { id: number })[] {
    return this.pendingStmt.all(limit);
  }

  /** Deletes a message the broker has acknowledged. */
  remove(id: number): void {
    this.count -= this.removeStmt.run(id).changes;
  }

  get queued(): number {
    return this.count;
  }

  private queue(m: OutgoingMessage): void {
    this.queueStmt.run(m.consentId, m.topic, m.message);
    this.count++;
  }
}
