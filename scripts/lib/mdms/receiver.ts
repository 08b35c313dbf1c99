/**
 * The reference MDMS receiver: subscribes to every gateway's batches, verifies each against the key trusted for
 * that gateway id, de-duplicates by batch id and record id, decrypts aggregates and bills with the supplier's
 * Paillier private key, stores them, and only then publishes a signed acknowledgement naming the batch.
 */
import type { KeyObject } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { GatewayError, errorCode } from '../../../gateway/errors.ts';
import { decimal, fromHex } from '../../../gateway/encrypt/bigint.ts';
import {
  COST_GUARD_BITS,
  decodeCost,
  MASK_MARGIN_BITS,
  releaseShiftOf,
  unpack,
} from '../../../gateway/encrypt/packing.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import type { Logger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { publishRefusal } from '../../../gateway/uplink/publish-refusal.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  BatchBody,
  type AckBodyMsg,
  type CostBillRecordMsg,
  type LayoutMsg,
} from '../../../gateway/protocol/messages.ts';
import { gatewayOfBatchTopic, topics } from '../../../gateway/protocol/topics.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';
import { CrtDecryptor } from './decrypt.ts';
import { nackBody, nackCode, refusedBatch, type Stage } from './nack.ts';
import { checkReleaseFits, openRelease } from './release.ts';
import { startSplit, type SplitDecryptor, type SplitOptions } from './split-decryptor.ts';
import type { AggregateRow, BillRow, MdmsStore, SuppressedRow } from './store.ts';

/** A cost-only bill's cost is in 10⁻⁹ currency units (price per kWh in 10⁻⁶ units × Wh). */
const COST_DECIMALS = 9;

export interface MdmsOptions {
  url: string;
  clientOptions?: IClientOptions;
  prefix: string;
  /** Gateway id → the Ed25519 public key that must have signed its batches. */
  trust: ReadonlyMap<string, KeyObject>;
  /** The whole private key; or `split`, the supplier's share and the authority it decrypts with. */
  supplierKey?: PaillierPrivateKey;
  split?: SplitOptions;
  signing: { privateKey: KeyObject; publicKey: KeyObject };
  store: MdmsStore;
  log: Logger;
}

export class MdmsReceiver {
  readonly metrics = new Metrics();
  private client: MqttClient | undefined;
  /** Serialises message handling: each message is handled after the previous one. */
  private queue: Promise<void> = Promise.resolve();
  private readonly decryptor: CrtDecryptor | undefined;
  private split: SplitDecryptor | undefined;

  constructor(private readonly opts: MdmsOptions) {
    this.decryptor = opts.supplierKey ? new CrtDecryptor(opts.supplierKey) : undefined;
  }

  /** The split-key decryptor, when running with a key share (tests wait on it). */
  get splitDecryptor(): SplitDecryptor | undefined {
    return this.split;
  }

  async start(): Promise<void> {
    const { log, prefix } = this.opts;
    const client = mqtt.connect(this.opts.url, {
      clientId: `mdms-${process.pid}`,
      clean: true,
      reconnectPeriod: 1_000,
      ...this.opts.clientOptions,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      // Messages are handled one at a time, in arrival order.
      this.queue = this.queue.then(() => this.handle(client, topic, payload));
    });
    client.on('error', (err) => log.warn({ err: err.message }, 'broker connection error'));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // mqtt.js re-subscribes by itself after a reconnect.
    if (this.opts.split) {
      this.split = await startSplit(this.opts, client, this.metrics, (gateway, records, decrypt) =>
        this.decryptRecords(gateway, records, decrypt),
      );
    }
    await client.subscribeAsync(topics.allBatches(prefix), { qos: 1 });
    log.info({ url: this.opts.url, topic: topics.allBatches(prefix) }, 'MDMS listening');
  }

  async stop(): Promise<void> {
    await this.queue;
    await this.split?.stop();
    await this.client?.endAsync();
    this.client = undefined;
  }

  private handle(client: MqttClient, topic: string, payload: Buffer): void {
    const { log, store, prefix } = this.opts;
    const gateway = gatewayOfBatchTopic(prefix, topic);
    let stage: Stage = 'verify';
    try {
      if (!gateway) throw new GatewayError('MESSAGE_MALFORMED', `not a batch topic: ${topic}`);
      const key = this.opts.trust.get(gateway);
      if (!key) throw new GatewayError('UNKNOWN_SENDER', `no trusted key for gateway "${gateway}"`);
      const { body, bodyDigest } = openEnvelope(payload, key);
      stage = 'parse';
      const parsed = BatchBody.safeParse(body);
      if (!parsed.success) throw new GatewayError('MESSAGE_MALFORMED', 'body is not a v1 batch');
      const batch = parsed.data;
      if (batch.gateway !== gateway)
        throw new GatewayError('MESSAGE_MALFORMED', 'batch names another gateway');

      if (store.hasBatch(gateway, batch.batchId, bodyDigest) || this.split?.has(gateway, batch, bodyDigest)) {
        this.metrics.inc('batches.duplicate');
      } else if (this.split) {
        // Stored durably as received before the ack; decrypted when the authority answers.
        this.split.hold(gateway, batch, bodyDigest, payload.toString());
        this.metrics.inc('batches.pending');
      } else {
        stage = 'open';
        const rows = this.decryptRecords(gateway, batch.records);
        const result = store.saveBatch(
          { batchId: batch.batchId, gateway, seq: batch.seq, bodyDigest, receivedAt: Date.now() },
          ...rows,
        );
        this.metrics.inc('batches.stored');
        this.metrics.inc('records.stored', result.inserted);
        this.metrics.inc('records.duplicate', result.duplicates);
        log.info({ batchId: batch.batchId, ...result }, 'batch stored');
      }
      const ack: AckBodyMsg = {
        v: 1,
        type: 'ack',
        gateway,
        batchId: batch.batchId,
        bodyDigest,
        ackedAt: isoUtc(Date.now()),
      };
      const sealed = signEnvelope(ack, this.opts.signing.privateKey, this.opts.signing.publicKey);
      this.publishAnswer(client, gateway, sealed.message, 'ack');
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`batches.rejected.${code}`);
      log.warn({ topic, code, reason: (error as Error).message }, 'batch rejected');
      if (gateway) this.nack(client, gateway, payload, error, stage);
    }
  }

  /**
   * Publishes an ack or a nack. Under MQTT 5 a broker that refuses it (an ACL denying the ack topic: PUBACK 0x87)
   * says so, and the MDMS logs and counts it (`answers.refused_by_broker.<NAME>`): the gateway will re-send the
   * batch, and the MDMS store it again as a duplicate, until the broker's configuration is fixed.
   */
  private publishAnswer(
    client: MqttClient,
    gateway: string,
    message: Buffer | string,
    kind: 'ack' | 'nack',
  ): void {
    client.publish(topics.ack(this.opts.prefix, gateway), message, { qos: 1 }, (err) => {
      const refusal = err && publishRefusal(err);
      if (!refusal) return;
      this.metrics.inc(`answers.refused_by_broker.${refusal.name}`);
      this.opts.log.error(
        { gateway, kind, reasonCode: refusal.hex, reason: refusal.reason },
        'the broker refused the answer to a gateway: check its ACL for the ack topic',
      );
    });
  }

  /** Tells the gateway, signed, that its batch is refused for good and why (docs/protocol.md §7a). */
  private nack(client: MqttClient, gateway: string, payload: Buffer, error: unknown, stage: Stage): void {
    const code = nackCode(error, stage);
    const batch = refusedBatch(payload);
    if (!code || !batch) return;
    const body = nackBody(gateway, batch, code, (error as Error).message, Date.now());
    const sealed = signEnvelope(body, this.opts.signing.privateKey, this.opts.signing.publicKey);
    this.publishAnswer(client, gateway, sealed.message, 'nack');
    this.metrics.inc(`batches.nacked.${code}`);
  }

  /** `decrypt`: the whole key's CRT by default; the split key's combination (split-decryptor.ts) otherwise. */
  private decryptRecords(
    gateway: string,
    records: typeof BatchBody._output.records,
    decrypt: (hex: string) => bigint = (hex) => this.decryptHex(hex),
  ) {
    const aggregates: AggregateRow[] = [];
    const suppressed: SuppressedRow[] = [];
    const bills: BillRow[] = [];
    const open = (hex: string, layout: LayoutMsg) => {
      // Bits from releaseShift up are the bill's masked release field (docs/protocol.md §5).
      const values = unpack(layout, decrypt(hex), releaseShiftOf(layout));
      const bands = Object.fromEntries(layout.slots.slice(1).map((name, i) => [name, Number(values[i + 1])]));
      if (values.some((v) => v > BigInt(Number.MAX_SAFE_INTEGER))) {
        throw new GatewayError(
          'CIPHERTEXT_INVALID',
          'a slot exceeds what this MDMS stores exactly (2^53 − 1)',
        );
      }
      const total = Number(values[0]);
      if (Object.values(bands).reduce((a, b) => a + b, 0) !== total) {
        throw new GatewayError('CIPHERTEXT_INVALID', 'band slots do not add up to the total slot');
      }
      return { total, bands: JSON.stringify(bands) };
    };
    for (const r of records) {
      if (r.kind === 'aggregate') {
        if (r.meters < r.k)
          throw new GatewayError('MESSAGE_MALFORMED', `aggregate ${r.id} has fewer than k meters`);
        checkReleaseFits(r, this.modulusBits());
        const { total, bound95 } = openRelease(r, decrypt(r.ciphertext));
        aggregates.push({
          record_id: r.id,
          gateway,
          neighbourhood: r.neighbourhood,
          interval_start: r.intervalStart,
          interval_end: r.intervalEnd,
          meters: r.meters,
          k: r.k,
          total_wh: total,
          bands: null,
          bound95_wh: bound95,
          noise: JSON.stringify(r.noise),
        });
      } else if (r.kind === 'suppressed') {
        suppressed.push({
          record_id: r.id,
          gateway,
          neighbourhood: r.neighbourhood,
          interval_start: r.intervalStart,
          interval_end: r.intervalEnd,
          k: r.k,
        });
      } else {
        const bill = {
          record_id: r.id,
          gateway,
          account: r.account,
          period_start: r.periodStart,
          period_end: r.periodEnd,
          intervals: r.intervals,
        };
        if (r.reveal === 'cost-only') {
          const amount = this.amountOf(r, decrypt);
          bills.push({ ...bill, reveal: 'cost-only', total_wh: null, bands: null, ...amount });
        } else {
          const { total, bands } = open(r.ciphertext, r.layout);
          bills.push({ ...bill, reveal: 'bands', total_wh: total, bands, amount: null, prices: null });
        }
      }
    }
    return [aggregates, suppressed, bills] as const;
  }

  private decryptHex(hex: string): bigint {
    const c = fromHex(hex);
    if (c === undefined) throw new GatewayError('CIPHERTEXT_INVALID', 'ciphertext is not hex');
    if (!this.decryptor) throw new GatewayError('KEY_FILE_MISSING', 'no whole private key');
    return this.decryptor.decrypt(c);
  }

  /** The bit length of n: of the whole key, or of the public key the supplier's share belongs to. */
  private modulusBits(): number {
    const publicKey = this.opts.supplierKey?.publicKey ?? this.opts.split?.share.publicKey;
    if (!publicKey) throw new GatewayError('KEY_FILE_MISSING', 'neither a whole private key nor a key share');
    return publicKey.bits;
  }

  /** The amount due of a cost-only bill: the low `costBits` bits of its plaintext, after the guard-bit check. */
  private amountOf(
    r: CostBillRecordMsg,
    decrypt: (hex: string) => bigint,
  ): { amount: string; prices: string } {
    const bits = this.modulusBits();
    // The cost, its guard bits and a mask of at least MASK_MARGIN_BITS bits must fit below n / 2.
    if (r.costBits + COST_GUARD_BITS + MASK_MARGIN_BITS + 1 > bits - 2) {
      throw new GatewayError(
        'MESSAGE_MALFORMED',
        `bill ${r.id}: costBits ${r.costBits} leaves no room for the guard bits and the mask under a ${bits}-bit key`,
      );
    }
    const cost = decodeCost(decrypt(r.ciphertext), r.costBits);
    return { amount: decimal(cost, COST_DECIMALS), prices: JSON.stringify(r.prices) };
  }
}
