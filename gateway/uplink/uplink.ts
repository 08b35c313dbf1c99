/**
 * The upstream MQTT link: publishes stored batches with QoS 1, re-sends each until the MDMS's signed
 * acknowledgement names it (exponential back-off paced by the MDMS's ack latency, everything due again after a
 * reconnect), verifies each stored batch before sending it (batch-repair.ts), hands the ack topic to the ack
 * handler, reports publishes the broker refuses (MQTT 5 PUBACK reason codes), and keeps a retained status message
 * (with a last will) on the broker.
 */
import type { KeyObject } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { BatchRepair } from '../batch/batch-repair.ts';
import type { BufferStore } from '../buffer/buffer.ts';
import type { StoredBatch } from '../buffer/outbox-store.ts';
import { errorCode } from '../errors.ts';
import { DeliveryStatus } from '../observe/delivery-status.ts';
import type { Logger } from '../observe/log.ts';
import { LogThrottle } from '../observe/log-throttle.ts';
import type { Metrics } from '../observe/metrics.ts';
import { topics } from '../protocol/topics.ts';
import { AckHandler } from './ack-handler.ts';
import { AckPacer, latencyMemory } from './ack-pacer.ts';
import { PublishFailures } from './publish-refusal.ts';
import { watchConnection } from './connection-events.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';

export type MqttConnect = (url: string, opts: IClientOptions) => MqttClient;

export interface UplinkOptions {
  url: string;
  clientOptions: IClientOptions;
  prefix: string;
  gatewayId: string;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** Optional collaborators (tests of other concerns leave them out). */
export interface UplinkExtras {
  /** Verifies each stored batch before a send and handles the MDMS's nacks; absent: sent as stored. */
  repair?: BatchRepair;
  /** Where refusals are reported for health; absent: one of its own. */
  delivery?: DeliveryStatus;
  /** Random numbers for the back-off's jitter (tests). */
  random?: () => number;
}

/** What other components (households' requests and streams) need of the upstream connection. */
export interface MessageLink {
  /** Subscribes to `topic` (now and after every reconnect) and hands its messages to `handler`. */
  route(topic: string, handler: (payload: Buffer) => void): void;
  /** Publishes when connected (false otherwise); `done` runs when the broker has acknowledged a QoS 1 message. */
  publish(topic: string, payload: string, qos: 0 | 1, done?: (error?: Error) => void): boolean;
  /** Publishes a retained QoS 1 message when connected (false otherwise): what a newcomer must find. */
  publishRetained(topic: string, payload: string): boolean;
  /** Runs `listener` on every (re)connection to the broker. */
  onConnect(listener: () => void): void;
}

export class Uplink implements MessageLink {
  private client: MqttClient | undefined;
  private readonly routes = new Map<string, (payload: Buffer) => void>();
  private readonly inFlight = new Set<string>();
  private readonly connectListeners: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly clocks: { elapsed: Clock; calendar: Clock };
  private readonly pacer: AckPacer;
  private readonly throttle: LogThrottle;
  private readonly acks: AckHandler;
  readonly delivery: DeliveryStatus;
  private readonly failures: PublishFailures;

  constructor(
    private readonly opts: UplinkOptions,
    private readonly connect: MqttConnect,
    private readonly buffer: BufferStore,
    private readonly mdmsKey: KeyObject,
    /**
     * Back-off and due times run on elapsed time (a clock stepped back must not stall re-sends); the status names
     * the calendar time. One clock serves as both.
     */
    clocks: Clock | { elapsed: Clock; calendar: Clock },
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly extras: UplinkExtras = {},
  ) {
    this.clocks = 'now' in clocks ? { elapsed: clocks, calendar: clocks } : clocks;
    this.pacer = new AckPacer(opts, this.clocks.elapsed, extras.random, latencyMemory(buffer.state));
    this.throttle = new LogThrottle(this.clocks.elapsed);
    this.delivery =
      extras.delivery ??
      new DeliveryStatus(metrics, buffer, this.clocks.calendar, () => this.pacer.latencyMs());
    this.failures = new PublishFailures(
      topics.batch(opts.prefix, opts.gatewayId),
      this.delivery,
      this.throttle,
      metrics,
      log,
    );
    this.acks = new AckHandler(opts.gatewayId, {
      buffer,
      mdmsKey,
      pacer: this.pacer,
      ...(extras.repair ? { repair: extras.repair } : {}),
      throttle: this.throttle,
      metrics,
      log,
    });
  }

  /** The median of the MDMS's recent acknowledgement latencies (ms), for health. */
  ackLatencyMs(): number | undefined {
    return this.pacer.latencyMs();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const { prefix, gatewayId } = this.opts;
    const statusTopic = topics.status(prefix, gatewayId);
    const client = this.connect(this.opts.url, {
      ...this.opts.clientOptions,
      will: { topic: statusTopic, payload: Buffer.from(this.statusPayload(false)), qos: 1, retain: true },
    });
    this.client = client;
    // mqtt.js re-sends its own unacknowledged packets after a reconnect; our re-send logic covers the rest.
    watchConnection(client, this.opts.url, this.throttle, this.metrics, this.log, () =>
      this.inFlight.clear(),
    );
    client.on('connect', () => {
      this.metrics.inc('uplink.connects');
      this.log.info({ url: this.opts.url }, 'connected to upstream broker');
      client.subscribe(topics.ack(prefix, gatewayId), { qos: 1 }, (err, granted) => {
        // A broker ACL that denies the topic answers with QoS 128 (3.1.1) or a reason code ≥ 128 (MQTT 5): no ack
        // would ever arrive.
        if (err || granted?.some((g) => g.qos >= 128)) {
          this.metrics.inc('uplink.subscribe_refused');
          this.log.error(
            { topic: topics.ack(prefix, gatewayId), err: err?.message },
            'broker refused the acknowledgement subscription: check its ACL; batches will be re-sent forever',
          );
        }
      });
      for (const topic of this.routes.keys()) this.subscribeRoute(client, topic);
      this.publishStatus(true);
      this.survive('connect', () => {
        this.buffer.outbox.makeAllDue(this.clocks.elapsed.now());
        this.sendDue();
      });
      for (const listener of this.connectListeners) listener();
    });
    const ackTopic = topics.ack(prefix, gatewayId);
    client.on('message', (topic, payload) => {
      if (topic === ackTopic) return this.acks.handle(payload);
      const handler = this.routes.get(topic);
      if (!handler) return;
      try {
        handler(payload);
      } catch (error) {
        // Handlers count and answer their own errors; anything escaping is a bug, counted, never a crash.
        this.metrics.inc(`uplink.handler_failed.${errorCode(error)}`);
        this.log.error({ topic, err: (error as Error).message }, 'message handler failed');
      }
    });
    // Re-sends are checked often; each batch's own back-off decides whether it is due.
    this.timer = setInterval(
      () => this.survive('resend', () => this.sendDue()),
      Math.min(1000, this.opts.retryInitialMs),
    );
  }

  /**
   * The boundary of what runs on the client's events and the re-send timer: a failed write (disk full, read-only:
   * recording an attempt is one) is counted and logged, and the next run tries again, instead of an exception
   * escaping from a timer and ending the process.
   */
  private survive(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`uplink.${what}_failed.${code}`);
      // Retried every second through a disk-full episode: once, then a count every ten minutes.
      this.throttle.hit(`${what}:${code}`, (repeats) =>
        this.log.warn({ code, reason: (error as Error).message, repeats }, `${what} failed; will retry`),
      );
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const client = this.client;
    if (!client) return;
    if (client.connected) this.publishStatus(false);
    await client.endAsync(false);
    this.client = undefined;
  }

  route(topic: string, handler: (payload: Buffer) => void): void {
    this.routes.set(topic, handler);
    if (this.client?.connected) this.subscribeRoute(this.client, topic);
  }

  publish(topic: string, payload: string, qos: 0 | 1, done?: (error?: Error) => void): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, payload, { qos }, (err) => done?.(err));
    return true;
  }

  publishRetained(topic: string, payload: string): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, payload, { qos: 1, retain: true }, () => {});
    return true;
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  private subscribeRoute(client: MqttClient, topic: string): void {
    client.subscribe(topic, { qos: 1 }, (err, granted) => {
      if (err || granted?.some((g) => g.qos >= 128)) {
        this.metrics.inc('uplink.subscribe_refused');
        this.log.error({ topic, err: err?.message }, 'broker refused a subscription: check its ACL');
      }
    });
  }

  /** Publishes every batch whose next attempt is due; runs on a timer and after each flush. */
  sendDue(): void {
    const client = this.client;
    if (!client?.connected) return;
    for (const due of this.buffer.outbox.dueBatches(this.clocks.elapsed.now())) {
      if (this.inFlight.has(due.batchId)) continue;
      const batch = this.extras.repair ? this.extras.repair.beforeSend(due) : due;
      if (batch) this.publishBatch(client, batch);
      else this.pacer.forget(due.batchId);
    }
  }

  publishStatus(online: boolean): void {
    const client = this.client;
    if (!client?.connected) return;
    client.publish(
      topics.status(this.opts.prefix, this.opts.gatewayId),
      this.statusPayload(online),
      { qos: 1, retain: true },
      () => {},
    );
  }

  private statusPayload(online: boolean): string {
    return JSON.stringify({
      v: 1,
      type: 'status',
      gateway: this.opts.gatewayId,
      online,
      at: isoUtc(this.clocks.calendar.now()),
      ...(online ? { counters: this.metrics.snapshot() } : {}),
    });
  }

  private publishBatch(client: MqttClient, batch: StoredBatch): void {
    const attempts = batch.attempts + 1;
    // Schedule the next try before sending, so a crash mid-publish cannot make it re-send in a tight loop.
    const next = this.clocks.elapsed.now() + this.pacer.delayMs(attempts);
    // In flight only once recorded: an attempt the disk refused to record is tried again on the next run.
    this.buffer.outbox.recordAttempt(batch.batchId, attempts, next);
    this.inFlight.add(batch.batchId);
    this.pacer.sent(batch.batchId);
    client.publish(topics.batch(this.opts.prefix, this.opts.gatewayId), batch.message, { qos: 1 }, (err) => {
      this.inFlight.delete(batch.batchId);
      if (err) return this.failures.failed(batch.batchId, err);
      this.metrics.inc(attempts === 1 ? 'batches.sent' : 'batches.resent');
      this.log.info({ batchId: batch.batchId, attempt: attempts }, 'batch published');
    });
  }
}
