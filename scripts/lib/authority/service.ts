/**
 * The privacy authority on MQTT: answers co-decryption requests (messages.ts) one at a time, replying signed
 * with its own Ed25519 key on the reply topic the request names. A request that is not a signed request of a
 * known MDMS gets no reply (it is counted and logged once); everything else gets one, refusals included.
 */
import type { KeyObject } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { errorCode } from '../../../gateway/errors.ts';
import type { Logger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import type { Authority } from './authority.ts';
import { authorityTopics } from './messages.ts';

export interface AuthorityServiceOptions {
  url: string;
  clientOptions?: IClientOptions;
  prefix: string;
  authority: Authority;
  signing: { privateKey: KeyObject; publicKey: KeyObject };
  log: Logger;
}

export class AuthorityService {
  readonly metrics = new Metrics();
  private client: MqttClient | undefined;

  constructor(private readonly opts: AuthorityServiceOptions) {}

  async start(): Promise<void> {
    const { log, prefix } = this.opts;
    const client = mqtt.connect(this.opts.url, {
      clientId: `authority-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      clean: true,
      reconnectPeriod: 1_000,
      ...this.opts.clientOptions,
    });
    this.client = client;
    // Handling is synchronous (SQLite and the exponentiations), so requests are answered in arrival order.
    client.on('message', (_topic, payload) => this.handle(client, payload));
    client.on('error', (err) => log.warn({ err: err.message }, 'broker connection error'));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(authorityTopics.request(prefix), { qos: 1 });
    log.info({ url: this.opts.url, topic: authorityTopics.request(prefix) }, 'privacy authority listening');
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  private handle(client: MqttClient, payload: Buffer): void {
    const { log, prefix, signing } = this.opts;
    try {
      const reply = this.opts.authority.handle(payload);
      const accepted = reply.results.filter((r) => r.ok).length;
      this.metrics.inc('records.accepted', accepted);
      for (const r of reply.results) if (!r.ok) this.metrics.inc(`records.refused.${r.code}`);
      log.info(
        { request: reply.id, gateway: reply.gateway, accepted, refused: reply.results.length - accepted },
        'co-decryption request answered',
      );
      const sealed = signEnvelope(reply, signing.privateKey, signing.publicKey);
      client.publish(authorityTopics.reply(prefix, reply.id), sealed.message, { qos: 1 }, () => {});
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`requests.rejected.${code}`);
      log.warn({ code, reason: (error as Error).message }, 'co-decryption request rejected');
    }
  }
}
