/**
 * The reference MDMS receiver: subscribes to every gateway's batches, verifies each against the key trusted for
 * that gateway id, de-duplicates by batch id and record id, decrypts aggregates and bills with the supplier's
 * Paillier private key, stores them, and only then publishes a signed acknowledgement naming the batch.
 */
import type { KeyObject } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { GatewayError, errorCode } from '../../../gateway/errors.ts';
import { fromHex } from '../../../gateway/encrypt/bigint.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import type { Logger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { BatchBody, type AckBodyMsg } from '../../../gateway/protocol/messages.ts';
import { gatewayOfBatchTopic, topics } from '../../../gateway/protocol/topics.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';
import { CrtDecryptor } from './decrypt.ts';
import { recordRows } from './rows.ts';
import { startSplit, type SplitDecryptor, type SplitOptions } from './split-decryptor.ts';
import type { MdmsStore } from './store.ts';

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
    if (this.opts.split) this.split = await startSplit(this.opts, client, this.metrics);
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
    try {
      const gateway = gatewayOfBatchTopic(prefix, topic);
      if (!gateway) throw new GatewayError('MESSAGE_MALFORMED', `not a batch topic: ${topic}`);
      const key = this.opts.trust.get(gateway);
      if (!key) throw new GatewayError('UNKNOWN_SENDER', `no trusted key for gateway "${gateway}"`);
      const { body, bodyDigest } = openEnvelope(payload, key);
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
        const rows = recordRows(
          gateway,
          batch.records,
          (r) => this.decryptHex(r.ciphertext),
          this.decryptor!.key.publicKey.bits,
        );
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
      client.publish(topics.ack(prefix, gateway), sealed.message, { qos: 1 }, () => {});
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`batches.rejected.${code}`);
      log.warn({ topic, code, reason: (error as Error).message }, 'batch rejected');
    }
  }

  private decryptHex(hex: string): bigint {
    const c = fromHex(hex);
    if (c === undefined) throw new GatewayError('CIPHERTEXT_INVALID', 'ciphertext is not hex');
    if (!this.decryptor) throw new GatewayError('KEY_FILE_MISSING', 'no whole private key');
    return this.decryptor.decrypt(c);
  }
}
