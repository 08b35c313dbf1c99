/**
 * Batches waiting for the privacy authority's co-decryption (split key). The gateway may delete what the MDMS
 * acknowledged, so a batch is written here durably (synchronous FULL) before its acknowledgement, and leaves in
 * the very transaction that stores its decrypted records: an authority outage delays decryption, loses nothing.
 */
import type { Db } from '../../../gateway/buffer/database.ts';

export interface PendingBatch {
  gateway: string;
  batch_id: string;
  body_digest: string;
  seq: number;
  /** The gateway's signed envelope as received: the authority verifies it itself. */
  message: string;
  received_at: number;
  attempts: number;
  state: 'waiting' | 'refused';
  last_code: string | null;
}

export class PendingStore {
  constructor(private readonly db: Db) {}

  has(gateway: string, batchId: string, bodyDigest: string): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM pending WHERE gateway = ? AND batch_id = ? AND body_digest = ?')
        .get(gateway, batchId, bodyDigest) !== undefined
    );
  }

  add(b: Omit<PendingBatch, 'attempts' | 'state' | 'last_code'>): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO pending (gateway, batch_id, body_digest, seq, message, received_at)
         VALUES (@gateway, @batch_id, @body_digest, @seq, @message, @received_at)`,
      )
      .run(b);
  }

  /** Waiting batches, oldest first. */
  waiting(): PendingBatch[] {
    return this.db
      .prepare("SELECT * FROM pending WHERE state = 'waiting' ORDER BY received_at, gateway, seq")
      .all() as PendingBatch[];
  }

  all(): PendingBatch[] {
    return this.db.prepare('SELECT * FROM pending ORDER BY received_at').all() as PendingBatch[];
  }

  /** One more failed attempt; `refused` stops retrying (the authority said no: retrying would not change it). */
  failed(b: PendingBatch, code: string, refused: boolean): void {
    this.db
      .prepare(
        `UPDATE pending SET attempts = attempts + 1, last_code = ?, state = ?
         WHERE gateway = ? AND batch_id = ? AND body_digest = ?`,
      )
      .run(code, refused ? 'refused' : 'waiting', b.gateway, b.batch_id, b.body_digest);
  }

  /** Runs `store` (which stores the decrypted records) and removes the batch, in one transaction. */
  complete(b: PendingBatch, store: () => void): void {
    this.db.transaction(() => {
      store();
      this.db
        .prepare('DELETE FROM pending WHERE gateway = ? AND batch_id = ? AND body_digest = ?')
        .run(b.gateway, b.batch_id, b.body_digest);
    })();
  }
}
