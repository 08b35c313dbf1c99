/**
 * Batching: released records are packed into batches signed with the gateway's Ed25519 key and stored byte for
 * byte, so that every re-send is identical and the MDMS can de-duplicate by batch id and record id.
 *
 * A signed batch is kept until acknowledged and never dropped, so the batcher stops while `maxBatchedRecords`
 * records are already in unacknowledged batches: during a long outage the rest stay unbatched, where the
 * buffer's limit (`buffer.maxOutboxRecords`, docs/buffer.md) can drop the oldest aggregates. Without this
 * bound every record would be batched within a schedule period and the limit could never apply.
 */
import type { KeyObject } from 'node:crypto';
import type { BufferStore } from '../buffer/buffer.ts';
import type { OutboxRecord, StoredBatch } from '../buffer/outbox-store.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { signEnvelope } from '../protocol/envelope.ts';
import type { BatchBodyMsg, UpRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';

export interface SigningIdentity {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * Signs the batch `seq` of `records` (in this order) made at `createdAt`: the same arguments give the same bytes
 * (Ed25519 is deterministic), which is how a damaged batch is rebuilt byte for byte (batch-repair.ts).
 */
export function signBatch(
  gatewayId: string,
  seq: number,
  createdAt: string,
  records: readonly OutboxRecord[],
  identity: SigningIdentity,
): { batchId: string; message: string; bodyDigest: string } {
  const batchId = `${gatewayId}-${String(seq).padStart(8, '0')}`;
  const body: BatchBodyMsg = {
    v: 1,
    type: 'batch',
    gateway: gatewayId,
    batchId,
    seq,
    createdAt,
    records: records.map((r) => JSON.parse(r.body) as UpRecordMsg),
  };
  const sealed = signEnvelope(body, identity.privateKey, identity.publicKey);
  return { batchId, message: sealed.message, bodyDigest: sealed.bodyDigest };
}

export class Batcher {
  constructor(
    private readonly opts: {
      gatewayId: string;
      maxRecordsPerBatch: number;
      /** At most this many records in unacknowledged batches (default: no bound). */
      maxBatchedRecords?: number;
    },
    private readonly identity: SigningIdentity,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /**
   * Turns every unbatched record into signed batches; `now` is elapsed time (stored: when it is due, its age),
   * `at` the calendar time written in the batch. Returns the new batches.
   */
  flush(now: number, at = now): StoredBatch[] {
    const created: StoredBatch[] = [];
    for (;;) {
      const { records: total, unbatched } = this.buffer.outbox.counts();
      const maxBatched = this.opts.maxBatchedRecords ?? Infinity;
      const room = Math.min(this.opts.maxRecordsPerBatch, maxBatched - (total - unbatched));
      if (room <= 0) break;
      const batch = this.buffer.createBatch(room, now, (seq, records) =>
        signBatch(this.opts.gatewayId, seq, isoUtc(at), records, this.identity),
      );
      if (!batch) break;
      created.push(batch);
      this.metrics.inc('batches.created');
      this.metrics.inc('batches.bytes', batch.message.length);
      this.log.info({ batchId: batch.batchId, bytes: batch.message.length }, 'batch created');
    }
    return created;
  }
}
