/**
 * Integrity of stored batches (issue #20, docs/buffer.md "Integrity of stored batches"). Before each (re-)send
 * the stored message is verified against the gateway's own Ed25519 signature and the body digest stored beside
 * it: a byte rotted on the SD card fails it (`PRAGMA integrity_check` does not see a changed hex digit). Such a
 * batch, or one the MDMS refuses with a signed nack that suggests corruption, is rebuilt once from its records,
 * whose own checksums (`outbox.checksum`) prove them intact, in the same order with the same `createdAt`, so the
 * rebuilt batch is usually the original byte for byte. What cannot be rebuilt, or is refused again, is
 * quarantined: never sent again, kept with its readings (nothing deleted silently), logged once at error with
 * exactly what the MDMS does not have, counted (`batches.quarantined.<CODE>`), in health and in the doctor.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import { recordChecksum, type StoredBatch } from '../buffer/outbox-store.ts';
import { describeLoss, quarantineReport } from '../buffer/quarantine-report.ts';
import { errorCode } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { openEnvelope } from '../protocol/envelope.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';
import { signBatch, type SigningIdentity } from './batcher.ts';

/** Nack codes that say the bytes were damaged: a rebuild from intact records may cure them. */
const CORRUPTION = new Set(['SIGNATURE_INVALID', 'DIGEST_MISMATCH', 'MALFORMED', 'CIPHERTEXT_INVALID']);
/** Nack codes about the MDMS's own set-up, not the batch: the batch is kept and re-sent (slowly). */
const NOT_POISON = new Set(['UNKNOWN_GATEWAY']);

export type NackOutcome = 'rebuilt' | 'quarantined' | 'kept' | 'stale' | 'foreign' | 'unknown';

export class BatchRepair {
  /** Batches rebuilt in this run whose new version has not been sent yet: a nack now is for the old one. */
  private readonly unsent = new Set<string>();

  constructor(
    private readonly opts: { gatewayId: string },
    private readonly identity: SigningIdentity,
    private readonly buffer: BufferStore,
    /** Calendar time: `createdAt` of a batch rebuilt without a readable original. */
    private readonly calendar: Clock,
    /** Elapsed time: when a batch was quarantined. */
    private readonly elapsed: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The batch to send: itself when intact, rebuilt when it was damaged, or undefined once quarantined. */
  beforeSend(batch: StoredBatch): StoredBatch | undefined {
    const damage = this.damage(batch);
    if (damage === undefined) {
      this.unsent.delete(batch.batchId);
      return batch;
    }
    this.metrics.inc('batches.corrupt');
    const rebuilt = this.rebuildOrQuarantine(batch, 'BATCH_CORRUPT', damage);
    if (rebuilt) this.unsent.delete(batch.batchId);
    return rebuilt;
  }

  /**
   * The MDMS refused `batchId` with a verified nack, for a body whose digest was `bodyDigest`. Acted on only when
   * that is the body stored here: the MDMS signs a nack for whatever reached it on the batch topic, and a message
   * someone else put there (a forgery naming this gateway's batch) must not quarantine the genuine batch.
   */
  refused(batchId: string, code: string, reason: string, bodyDigest: string | undefined): NackOutcome {
    const batch = this.buffer.outbox.batch(batchId);
    if (!batch || this.isQuarantined(batchId)) return 'unknown';
    if (bodyDigest !== batch.bodyDigest) return 'foreign';
    if (this.unsent.has(batchId)) return 'stale';
    if (NOT_POISON.has(code)) return 'kept';
    const why = `the MDMS refused it: ${code} (${reason})`;
    if (!CORRUPTION.has(code)) return this.quarantine(batch, code, why) ? 'quarantined' : 'unknown';
    const rebuilt = this.rebuildOrQuarantine(batch, code, why);
    if (!rebuilt) return 'quarantined';
    this.unsent.add(batchId);
    // Due at once: the rebuilt version is the one the MDMS must judge.
    this.buffer.outbox.recordAttempt(batchId, rebuilt.attempts, this.elapsed.now());
    return 'rebuilt';
  }

  /** Why the stored message is not what the gateway signed, or undefined when it is. */
  private damage(batch: StoredBatch): string | undefined {
    try {
      const { body, bodyDigest } = openEnvelope(batch.message, this.identity.publicKey);
      if (bodyDigest !== batch.bodyDigest) return 'its body does not match the stored digest';
      const b = body as { batchId?: unknown; seq?: unknown };
      if (b.batchId !== batch.batchId || b.seq !== batch.seq) return 'its body names another batch';
      return undefined;
    } catch (error) {
      return `its stored message fails verification (${errorCode(error)})`;
    }
  }

  private rebuildOrQuarantine(batch: StoredBatch, code: string, why: string): StoredBatch | undefined {
    if (batch.rebuilds >= 1) {
      this.quarantine(batch, code, `${why}; already rebuilt once`);
      return undefined;
    }
    const records = this.buffer.outbox.recordsOf(batch.batchId);
    const bad = records.filter((r) => r.checksum !== undefined && recordChecksum(r.body) !== r.checksum);
    const missing = this.missingRecords(batch.message, new Set(records.map((r) => r.recordId)));
    if (records.length === 0 || bad.length > 0 || missing.length > 0) {
      const which = [
        ...bad.map((r) => `record ${r.recordId} damaged`),
        ...missing.map((id) => `record ${id} missing`),
      ];
      this.quarantine(batch, code, `${why}; cannot rebuild: ${which.join(', ') || 'no records left'}`);
      return undefined;
    }
    const createdAt = this.originalCreatedAt(batch.message) ?? isoUtc(this.calendar.now());
    const signed = signBatch(this.opts.gatewayId, batch.seq, createdAt, records, this.identity);
    this.buffer.outbox.replaceMessage(batch.batchId, signed.message, signed.bodyDigest);
    this.metrics.inc('batches.rebuilt');
    const same = signed.bodyDigest === batch.bodyDigest;
    this.log.warn(
      { batchId: batch.batchId, seq: batch.seq, code, records: records.length, identical: same },
      `batch rebuilt from its intact records (${why})`,
    );
    return { ...batch, message: signed.message, bodyDigest: signed.bodyDigest, rebuilds: batch.rebuilds + 1 };
  }

  private quarantine(batch: StoredBatch, code: string, reason: string): boolean {
    if (!this.buffer.outbox.quarantine(batch.batchId, this.elapsed.now(), code, reason.slice(0, 500)))
      return false;
    this.unsent.delete(batch.batchId);
    this.metrics.inc(`batches.quarantined.${code}`);
    const entry = quarantineReport(this.buffer.db).find((e) => e.batchId === batch.batchId);
    this.log.error(
      { batchId: batch.batchId, seq: batch.seq, code },
      `batch quarantined, not sent again; the MDMS does not have: ${entry ? describeLoss(entry) : batch.batchId}` +
        ' (its readings stay in the buffer; docs/reliability.md "A stored batch is damaged")',
    );
    return true;
  }

  private isQuarantined(batchId: string): boolean {
    return this.buffer.outbox.quarantined().some((q) => q.batchId === batchId);
  }

  /** Record ids the damaged message names (if its body is still readable) that are not in the outbox. */
  private missingRecords(message: string, present: Set<string>): string[] {
    const records = this.readBody(message)?.records;
    if (!Array.isArray(records)) return [];
    const ids = records.map((r) => (r && typeof r === 'object' ? (r as { id?: unknown }).id : undefined));
    return ids.filter((id): id is string => typeof id === 'string' && !present.has(id));
  }

  private originalCreatedAt(message: string): string | undefined {
    const at = this.readBody(message)?.createdAt;
    return typeof at === 'string' && !Number.isNaN(Date.parse(at)) ? at : undefined;
  }

  /** The body of a stored message as far as it still parses: untrusted, used only to rebuild it the same. */
  private readBody(message: string): { createdAt?: unknown; records?: unknown } | undefined {
    try {
      const env = JSON.parse(message) as { body?: unknown };
      const body = typeof env.body === 'string' ? (JSON.parse(env.body) as unknown) : undefined;
      return body && typeof body === 'object' ? body : undefined;
    } catch {
      return undefined;
    }
  }
}
