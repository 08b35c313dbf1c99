/**
 * The MDMS side of the co-decryption contract (scripts/lib/authority/messages.ts): publishes a signed request,
 * waits for the reply that names it, verified against the authority's own key. No reply within the timeout:
 * AUTHORITY_UNAVAILABLE (the caller retries later; the request is idempotent at the authority).
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { GatewayError } from '../../../gateway/errors.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  authorityTopics,
  CodecryptReply,
  type CodecryptReplyMsg,
  type CodecryptRequestMsg,
} from '../authority/messages.ts';

/** Timers as MQTT.js's KeepaliveManager takes them: injectable, so tests fire them by hand. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface AuthorityClientOptions {
  prefix: string;
  authorityKey: KeyObject;
  signing: { privateKey: KeyObject; publicKey: KeyObject };
  timers: Timers;
  timeoutMs: number;
}

interface Waiting {
  resolve: (reply: CodecryptReplyMsg) => void;
  reject: (error: Error) => void;
  timer: unknown;
}

export class AuthorityClient {
  private readonly waiting = new Map<string, Waiting>();
  private client: MqttClient | undefined;
  /** Requests sent so far (for metrics and tests). */
  sent = 0;

  constructor(private readonly opts: AuthorityClientOptions) {}

  async attach(client: MqttClient): Promise<void> {
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await client.subscribeAsync(authorityTopics.reply(this.opts.prefix, '+'), { qos: 1 });
  }

  request(gateway: string, batch: string, records: string[]): Promise<CodecryptReplyMsg> {
    const client = this.client;
    if (!client) return Promise.reject(new GatewayError('AUTHORITY_UNAVAILABLE', 'not connected'));
    const id = `r-${randomBytes(8).toString('hex')}`;
    const body: CodecryptRequestMsg = { v: 1, type: 'codecrypt-request', id, gateway, batch, records };
    const { privateKey, publicKey } = this.opts.signing;
    return new Promise((resolve, reject) => {
      const timer = this.opts.timers.set(() => {
        this.waiting.delete(id);
        reject(new GatewayError('AUTHORITY_UNAVAILABLE', `no reply from the authority to ${id}`));
      }, this.opts.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.sent++;
      client.publish(
        authorityTopics.request(this.opts.prefix),
        signEnvelope(body, privateKey, publicKey).message,
        { qos: 1 },
        () => {},
      );
    });
  }

  /** Fails every request still waiting (shutdown): the batches stay pending for the next start. */
  close(): void {
    for (const [id, w] of this.waiting) {
      this.opts.timers.clear(w.timer);
      w.reject(new GatewayError('AUTHORITY_UNAVAILABLE', `request ${id} abandoned at shutdown`));
    }
    this.waiting.clear();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const head = authorityTopics.reply(this.opts.prefix, '');
    if (!topic.startsWith(head)) return;
    const w = this.waiting.get(topic.slice(head.length));
    if (!w) return;
    this.waiting.delete(topic.slice(head.length));
    this.opts.timers.clear(w.timer);
    try {
      const reply = CodecryptReply.safeParse(openEnvelope(payload, this.opts.authorityKey).body);
      if (!reply.success || `${head}${reply.data.id}` !== topic) {
        throw new GatewayError('MESSAGE_MALFORMED', 'not a v1 co-decryption reply to this request');
      }
      w.resolve(reply.data);
    } catch (error) {
      w.reject(error as Error);
    }
  }
}
