/**
 * Decryption with the supplier's key share: works through the pending batches oldest first, asks the authority
 * for its partial decryptions of each batch's aggregates and bills in one request, combines them with its own,
 * checks every combined plaintext (zero check bits, then the slots as the receiver checks them), and stores the rows
 * while removing the batch from pending, in one transaction. The authority unavailable: the batch stays pending
 * and the loop retries after a back-off (1 s doubling to a minute). A record the authority refused, or a
 * plaintext that does not check, marks the batch refused with the code, once, and the loop goes on.
 */
import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { errorCode, GatewayError } from '../../../gateway/errors.ts';
import { fromHex } from '../../../gateway/encrypt/bigint.ts';
import type { Logger } from '../../../gateway/observe/log.ts';
import type { Metrics } from '../../../gateway/observe/metrics.ts';
import { BatchBody, type BatchBodyMsg, type UpRecordMsg } from '../../../gateway/protocol/messages.ts';
import { assertGenuinePlaintext, shapeOf } from '../split-key/plaintext-check.ts';
import { combinePartials, partialDecrypt, type KeyShare } from '../split-key/shares.ts';
import { DEFAULT_AUTHORITY_PREFIX, type CodecryptReplyMsg } from '../authority/messages.ts';
import { AuthorityClient, realTimers, type Timers } from './authority-client.ts';
import { PendingStore, type PendingBatch } from './pending-store.ts';
import type { AggregateRow, BillRow, MdmsStore, SuppressedRow } from './store.ts';

/** The receiver's records → rows (unpacking and its checks), given how a ciphertext's plaintext is obtained. */
export type DecryptRecords = (
  gateway: string,
  records: UpRecordMsg[],
  decrypt: (hex: string) => bigint,
) => readonly [AggregateRow[], SuppressedRow[], BillRow[]];

/** The authority said no to a record: kept with the authority's own code. */
class AuthorityRefusal extends GatewayError {
  constructor(
    readonly authorityCode: string,
    id: string,
  ) {
    super('REQUEST_REFUSED', `the authority refused record ${id}: ${authorityCode}`);
  }
}

export const BACKOFF_MIN_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;

/** What `scripts/mdms run --share` configures. */
export interface SplitOptions {
  share: KeyShare;
  /** The authority's Ed25519 public key: its replies must verify against it. */
  authorityKey: KeyObject;
  /** Topic prefix of the co-decryption contract (default meterspace/authority/v1). */
  authorityPrefix?: string;
  /** How long to wait for a reply before counting the authority unavailable (default 30 s). */
  timeoutMs?: number;
  timers?: Timers;
}

/** Builds the split decryptor on the receiver's MQTT connection and starts catching up on what is pending. */
export async function startSplit(
  opts: {
    split?: SplitOptions;
    store: MdmsStore;
    signing: { privateKey: KeyObject; publicKey: KeyObject };
    log: Logger;
  },
  client: MqttClient,
  metrics: Metrics,
  decryptRecords: DecryptRecords,
): Promise<SplitDecryptor> {
  const split = opts.split!;
  const timers = split.timers ?? realTimers;
  const authority = new AuthorityClient({
    prefix: split.authorityPrefix ?? DEFAULT_AUTHORITY_PREFIX,
    authorityKey: split.authorityKey,
    signing: opts.signing,
    timers,
    timeoutMs: split.timeoutMs ?? 30_000,
  });
  await authority.attach(client);
  const decryptor = new SplitDecryptor({
    share: split.share,
    authority,
    store: opts.store,
    pending: new PendingStore(opts.store.db),
    timers,
    metrics,
    decryptRecords,
    log: opts.log.child({ component: 'split-decryptor' }),
  });
  decryptor.kick();
  return decryptor;
}

export interface SplitDecryptorOptions {
  share: KeyShare;
  authority: AuthorityClient;
  store: MdmsStore;
  pending: PendingStore;
  timers: Timers;
  metrics: Metrics;
  decryptRecords: DecryptRecords;
  log: Logger;
}

export class SplitDecryptor {
  private running: Promise<void> | undefined;
  private retry: unknown;
  private backoff = BACKOFF_MIN_MS;
  private stopped = false;
  private again = false;

  constructor(private readonly opts: SplitDecryptorOptions) {}

  has(gateway: string, batch: BatchBodyMsg, bodyDigest: string): boolean {
    return this.opts.pending.has(gateway, batch.batchId, bodyDigest);
  }

  /** Stores a verified batch durably as received (before the caller acknowledges it), then decrypts it. */
  hold(gateway: string, batch: BatchBodyMsg, bodyDigest: string, message: string): void {
    this.opts.pending.add({
      gateway,
      batch_id: batch.batchId,
      body_digest: bodyDigest,
      seq: batch.seq,
      message,
      received_at: Date.now(),
    });
    this.kick();
  }

  /** Starts a pass over the pending batches unless one is running or a retry is already scheduled. */
  kick(): void {
    if (this.retry !== undefined || this.stopped) return;
    if (this.running) {
      // A batch held during a pass is not in that pass's list: run another one after it.
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== undefined) this.opts.timers.clear(this.retry);
    this.retry = undefined;
    this.opts.authority.close();
    await this.running;
  }

  /** Resolves when no batch is waiting or a retry is scheduled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async pass(): Promise<void> {
    const { pending, metrics, log } = this.opts;
    for (const batch of pending.waiting()) {
      if (this.stopped) return;
      try {
        await this.decryptBatch(batch);
        this.backoff = BACKOFF_MIN_MS;
        metrics.inc('split.batches.decrypted');
      } catch (error) {
        const code = error instanceof AuthorityRefusal ? error.authorityCode : errorCode(error);
        if (code === 'AUTHORITY_UNAVAILABLE') {
          pending.failed(batch, code, false);
          metrics.inc('split.authority.unavailable');
          log.warn({ batchId: batch.batch_id, retryInMs: this.backoff }, 'privacy authority unavailable');
          this.scheduleRetry();
          return;
        }
        pending.failed(batch, code, true);
        metrics.inc(`split.batches.refused.${code}`);
        log.warn({ batchId: batch.batch_id, code, reason: (error as Error).message }, 'batch not decrypted');
      }
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.retry = this.opts.timers.set(() => {
      this.retry = undefined;
      this.kick();
    }, delay);
  }

  private async decryptBatch(b: PendingBatch): Promise<void> {
    const body = BatchBody.parse(JSON.parse((JSON.parse(b.message) as { body: string }).body));
    const sealed = body.records.filter((r) => r.kind !== 'suppressed');
    const partials = new Map<string, bigint>();
    if (sealed.length > 0) {
      const reply = await this.opts.authority.request(
        b.gateway,
        b.message,
        sealed.map((r) => r.id),
      );
      for (const [id, partial] of this.partialsOf(reply, b)) partials.set(id, partial);
    }
    const { share } = this.opts;
    // Ciphertexts are unique per record: the record is found by its ciphertext, for its layout's check bits.
    const byHex = new Map(sealed.map((r) => [r.ciphertext, r]));
    const decrypt = (hex: string) => {
      const r = byHex.get(hex);
      const c = fromHex(hex);
      const theirs = r && partials.get(r.id);
      if (!r || c === undefined || theirs === undefined) {
        throw new GatewayError('CIPHERTEXT_INVALID', 'a ciphertext without a partial decryption');
      }
      const m = combinePartials(share.publicKey, [partialDecrypt(share, c), theirs]);
      assertGenuinePlaintext(m, shapeOf(r), share.publicKey.bits);
      return m;
    };
    const rows = this.opts.decryptRecords(b.gateway, body.records, decrypt);
    this.opts.pending.complete(b, () => {
      const result = this.opts.store.saveBatch(
        {
          batchId: b.batch_id,
          gateway: b.gateway,
          seq: b.seq,
          bodyDigest: b.body_digest,
          receivedAt: b.received_at,
        },
        ...rows,
      );
      this.opts.metrics.inc('records.stored', result.inserted);
      this.opts.log.info({ batchId: b.batch_id, ...result }, 'batch decrypted with the authority and stored');
    });
  }

  private partialsOf(reply: CodecryptReplyMsg, b: PendingBatch): Array<[string, bigint]> {
    if (reply.batchDigest !== null && reply.batchDigest !== b.body_digest) {
      throw new GatewayError('MESSAGE_MALFORMED', 'the authority answered for another batch');
    }
    return reply.results.map((r) => {
      if (!r.ok) throw new AuthorityRefusal(r.code, r.id);
      const partial = fromHex(r.partial);
      if (partial === undefined) throw new GatewayError('MESSAGE_MALFORMED', 'partial is not hex');
      return [r.id, partial];
    });
  }
}
