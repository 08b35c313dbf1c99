/** Released records and the signed batches that carry them, kept until the MDMS acknowledges each batch. */
import type { Statement } from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { Db } from './database.ts';

/** SHA-256 (hex) of a record's body: what `outbox.checksum` holds. */
export const recordChecksum = (body: string): string =>
  createHash('sha256').update(body, 'utf8').digest('hex');

export type RecordKind = 'aggregate' | 'suppressed' | 'bill';

export interface OutboxRecord {
  recordId: string;
  kind: RecordKind;
  /** The record as it goes on the wire (JSON text). */
  body: string;
  createdAt: number;
  /** For aggregate/suppressed: the group whose readings are deleted on acknowledgement. */
  group?: { neighbourhood: string; intervalStart: number };
  /** For bills: the billing period deleted on acknowledgement. */
  period?: { account: string; periodStart: number };
  /** SHA-256 of `body` as written; absent for records written before buffer schema 12 (trusted as they are). */
  checksum?: string;
}

export interface StoredBatch {
  batchId: string;
  seq: number;
  message: string;
  bodyDigest: string;
  attempts: number;
  nextAttemptAt: number;
  /** How often it was rebuilt from its records (docs/buffer.md "Integrity of stored batches"). */
  rebuilds: number;
}

/** A batch set aside for good: never sent again, kept with its records until an operator decides. */
export interface QuarantinedBatch {
  batchId: string;
  seq: number;
  at: number;
  code: string;
  reason: string;
}

interface RecordRow {
  record_id: string;
  kind: RecordKind;
  body: string;
  created_at: number;
  group_nb: string | null;
  group_start: number | null;
  account: string | null;
  period_start: number | null;
  checksum: string | null;
}

interface BatchRow {
  batch_id: string;
  seq: number;
  message: string;
  body_digest: string;
  attempts: number;
  next_attempt_at: number;
  rebuilds: number;
}

const toBatch = (r: BatchRow): StoredBatch => ({
  batchId: r.batch_id,
  seq: r.seq,
  message: r.message,
  bodyDigest: r.body_digest,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  rebuilds: r.rebuilds,
});

const toRecord = (r: RecordRow): OutboxRecord => ({
  recordId: r.record_id,
  kind: r.kind,
  body: r.body,
  createdAt: r.created_at,
  ...(r.group_nb !== null && r.group_start !== null
    ? { group: { neighbourhood: r.group_nb, intervalStart: r.group_start } }
    : {}),
  ...(r.account !== null && r.period_start !== null
    ? { period: { account: r.account, periodStart: r.period_start } }
    : {}),
  ...(r.checksum !== null ? { checksum: r.checksum } : {}),
});

export class OutboxStore {
  private readonly addStmt: Statement<
    [string, string, string, number, string | null, number | null, string | null, number | null, string]
  >;
  private readonly unbatchedStmt: Statement<[number], RecordRow>;
  private readonly assignStmt: Statement<[string, string]>;
  private readonly batchRecordsStmt: Statement<[string], RecordRow>;
  private readonly deleteRecordsStmt: Statement<[string]>;
  private readonly insertBatchStmt: Statement<[string, number, string, string, number, number]>;
  private readonly getBatchStmt: Statement<[string], BatchRow>;
  private readonly dueBatchesStmt: Statement<[number], BatchRow>;
  private readonly attemptStmt: Statement<[number, number, string]>;
  private readonly allDueStmt: Statement<[number]>;
  private readonly deleteBatchStmt: Statement<[string]>;
  private readonly countStmt: Statement<[], { records: number; unbatched: number; batches: number }>;
  private readonly oldestBatchStmt: Statement<[], { at: number | null }>;
  private readonly droppableStmt: Statement<[number, number], RecordRow>;
  private readonly deleteRecordStmt: Statement<[string]>;
  private readonly replaceStmt: Statement<[string, string, string]>;
  private readonly quarantineStmt: Statement<[number, string, string, string]>;
  private readonly quarantinedStmt: Statement<[], QuarantinedBatch>;

  constructor(db: Db) {
    this.addStmt = db.prepare(
      `INSERT INTO outbox (record_id, kind, body, created_at, group_nb, group_start, account, period_start,
                           checksum)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // In the order of the drops below: among records of one moment the older interval is signed first, not the
    // neighbourhood whose name sorts first (which left older records unbatched, to be dropped, behind newer ones).
    this.unbatchedStmt = db.prepare(
      'SELECT * FROM outbox WHERE batch_id IS NULL ORDER BY created_at, group_start, record_id LIMIT ?',
    );
    this.assignStmt = db.prepare('UPDATE outbox SET batch_id = ? WHERE record_id = ?');
    // In the order they were signed in (the batcher's), so that a rebuilt batch is the same batch.
    this.batchRecordsStmt = db.prepare(
      'SELECT * FROM outbox WHERE batch_id = ? ORDER BY created_at, group_start, record_id',
    );
    this.deleteRecordsStmt = db.prepare('DELETE FROM outbox WHERE batch_id = ?');
    this.insertBatchStmt = db.prepare(
      `INSERT INTO batches (batch_id, seq, message, body_digest, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.getBatchStmt = db.prepare('SELECT * FROM batches WHERE batch_id = ?');
    this.dueBatchesStmt = db.prepare(
      'SELECT * FROM batches WHERE next_attempt_at <= ? AND quarantined_at IS NULL ORDER BY seq',
    );
    this.attemptStmt = db.prepare('UPDATE batches SET attempts = ?, next_attempt_at = ? WHERE batch_id = ?');
    this.allDueStmt = db.prepare('UPDATE batches SET next_attempt_at = ?');
    this.deleteBatchStmt = db.prepare('DELETE FROM batches WHERE batch_id = ?');
    this.countStmt = db.prepare(
      `SELECT (SELECT COUNT(*) FROM outbox) AS records,
              (SELECT COUNT(*) FROM outbox WHERE batch_id IS NULL) AS unbatched,
              (SELECT COUNT(*) FROM batches) AS batches`,
    );
    // Quarantined batches are reported apart (health `delivery`): this age says whether delivery works now.
    this.oldestBatchStmt = db.prepare(
      'SELECT MIN(created_at) AS at FROM batches WHERE quarantined_at IS NULL',
    );
    // Oldest unbatched aggregates/suppressions first; bills are never dropped. Groups decided in one tick share
    // created_at (many of them after a restart or a stall): the older interval goes first, not the neighbourhood
    // whose name sorts first.
    this.droppableStmt = db.prepare(
      `SELECT * FROM outbox WHERE batch_id IS NULL AND kind != 'bill' AND created_at < ?
       ORDER BY created_at, group_start, record_id LIMIT ?`,
    );
    this.deleteRecordStmt = db.prepare('DELETE FROM outbox WHERE record_id = ?');
    this.replaceStmt = db.prepare(
      'UPDATE batches SET message = ?, body_digest = ?, rebuilds = rebuilds + 1 WHERE batch_id = ?',
    );
    this.quarantineStmt = db.prepare(
      `UPDATE batches SET quarantined_at = ?, quarantine_code = ?, quarantine_reason = ?
       WHERE batch_id = ? AND quarantined_at IS NULL`,
    );
    this.quarantinedStmt = db.prepare(
      `SELECT batch_id AS batchId, seq, quarantined_at AS at, quarantine_code AS code, quarantine_reason AS reason
       FROM batches WHERE quarantined_at IS NOT NULL ORDER BY seq`,
    );
  }

  add(r: OutboxRecord): void {
    this.addStmt.run(
      r.recordId,
      r.kind,
      r.body,
      r.createdAt,
      r.group?.neighbourhood ?? null,
      r.group?.intervalStart ?? null,
      r.period?.account ?? null,
      r.period?.periodStart ?? null,
      recordChecksum(r.body),
    );
  }

  unbatched(limit: number): OutboxRecord[] {
    return this.unbatchedStmt.all(limit).map(toRecord);
  }

  assign(recordId: string, batchId: string): void {
    this.assignStmt.run(batchId, recordId);
  }

  recordsOf(batchId: string): OutboxRecord[] {
    return this.batchRecordsStmt.all(batchId).map(toRecord);
  }

  insertBatch(b: Omit<StoredBatch, 'attempts' | 'rebuilds'>, createdAt: number): void {
    this.insertBatchStmt.run(b.batchId, b.seq, b.message, b.bodyDigest, createdAt, b.nextAttemptAt);
  }

  batch(batchId: string): StoredBatch | undefined {
    const r = this.getBatchStmt.get(batchId);
    return r && toBatch(r);
  }

  dueBatches(now: number): StoredBatch[] {
    return this.dueBatchesStmt.all(now).map(toBatch);
  }

  recordAttempt(batchId: string, attempts: number, nextAttemptAt: number): void {
    this.attemptStmt.run(attempts, nextAttemptAt, batchId);
  }

  /** After a reconnect every unacknowledged batch is due at once. */
  makeAllDue(now: number): void {
    this.allDueStmt.run(now);
  }

  /** Deletes a batch and its records (call inside the acknowledgement's transaction). */
  deleteBatch(batchId: string): void {
    this.deleteRecordsStmt.run(batchId);
    this.deleteBatchStmt.run(batchId);
  }

  counts(): { records: number; unbatched: number; batches: number } {
    return this.countStmt.get()!;
  }

  /**
   * When the oldest unacknowledged batch not quarantined was made (wall clock), or undefined when there is none.
   */
  oldestBatchAt(): number | undefined {
    return this.oldestBatchStmt.get()!.at ?? undefined;
  }

  /** Up to `limit` unbatched non-bill records created before `before`, oldest first: what a full outbox drops. */
  droppable(before: number, limit: number): OutboxRecord[] {
    return this.droppableStmt.all(before, limit).map(toRecord);
  }

  deleteRecord(recordId: string): void {
    this.deleteRecordStmt.run(recordId);
  }

  /** Stores a batch rebuilt from its records in place of the damaged one (same id and sequence number). */
  replaceMessage(batchId: string, message: string, bodyDigest: string): void {
    this.replaceStmt.run(message, bodyDigest, batchId);
  }

  /** Sets a batch aside for good; false if it is unknown or already quarantined. */
  quarantine(batchId: string, at: number, code: string, reason: string): boolean {
    return this.quarantineStmt.run(at, code, reason, batchId).changes === 1;
  }

  /** The quarantined batches, oldest first (docs/buffer.md "Integrity of stored batches"). */
  quarantined(): QuarantinedBatch[] {
    return this.quarantinedStmt.all();
  }
}
