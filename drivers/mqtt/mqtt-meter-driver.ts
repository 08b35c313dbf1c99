/**
 * Meters that publish over a local MQTT broker (Tasmota bridges, the gateway's generic JSON): one subscription per
 * meter topic; each payload is parsed by the meter's format and handed to the meter's series. A malformed payload
 * is counted under its code and dropped; an unreachable broker is retried by mqtt.js and reported once.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { errorCode, GatewayError } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import type { SealedReading } from './sealed-payload.ts';
import { MeterSeries, seriesDepsOf, type MeterSeriesOptions } from '../common/meter-series.ts';
import type { Driver, DriverContext } from '../driver.ts';

export type MqttConnect = (url: string, opts: IClientOptions) => MqttClient;

export type MqttMeter =
  | { kind: 'frames'; topic: string; parse(payload: Buffer): MeterFrame; series: MeterSeriesOptions }
  /** A meter that encrypts and signs its own readings: its ciphertexts go to the intake as they are. */
  | { kind: 'sealed'; topic: string; meterId: string; parse(payload: Buffer): SealedReading };

export interface MqttMeterOptions {
  url: string;
  client: IClientOptions;
  meters: MqttMeter[];
}

/** The largest meter payload parsed. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

export class MqttMeterDriver implements Driver {
  readonly name = 'mqtt';
  private client: MqttClient | undefined;
  private readonly byTopic = new Map<string, { meter: MqttMeter; series: MeterSeries | undefined }>();
  private reportedDown = false;

  constructor(
    private readonly opts: MqttMeterOptions,
    private readonly ctx: DriverContext,
    private readonly connect: MqttConnect,
  ) {
    for (const meter of opts.meters) {
      const series =
        meter.kind === 'frames'
          ? new MeterSeries(meter.series, seriesDepsOf(ctx, meter.series.meterId))
          : undefined;
      this.byTopic.set(meter.topic, { meter, series });
    }
  }

  start(): Promise<void> {
    const { ctx } = this;
    const client = this.connect(this.opts.url, this.opts.client);
    this.client = client;
    client.on('connect', () => {
      this.reportedDown = false;
      this.reportLink(true);
      ctx.log.info({ url: this.opts.url, topics: this.byTopic.size }, 'meter broker connected');
      client.subscribe([...this.byTopic.keys()], { qos: 0 }, (error) => {
        if (error) ctx.log.error({ reason: error.message }, 'meter topics could not be subscribed');
      });
    });
    client.on('offline', () => {
      ctx.metrics.inc('driver.mqtt.offline');
      this.reportLink(false);
      if (!this.reportedDown) ctx.log.warn({ url: this.opts.url }, 'meter broker unreachable; retrying');
      this.reportedDown = true;
    });
    client.on('error', (error) => {
      ctx.metrics.inc('driver.mqtt.errors');
      ctx.log.debug({ reason: error.message }, 'meter broker connection error');
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true);
  }

  /** The meters are as reachable as the broker they publish to. */
  private reportLink(up: boolean): void {
    for (const { meter } of this.byTopic.values()) this.ctx.report.link(meterIdOf(meter), up);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const entry = this.byTopic.get(topic);
    if (!entry) return;
    const { meter, series } = entry;
    try {
      // A meter's message is a few kB at most (a sealed 3072-bit reading about 2 kB): refuse a huge one unread.
      if (payload.length > MAX_PAYLOAD_BYTES) {
        throw new GatewayError(
          'FRAME_TOO_LONG',
          `payload of ${payload.length} bytes (at most ${MAX_PAYLOAD_BYTES})`,
        );
      }
      if (meter.kind === 'sealed') {
        const sealed = meter.parse(payload);
        this.ctx.metrics.inc('driver.mqtt.sealed');
        this.ctx.sealedSink?.({ meterId: meter.meterId, ...sealed });
      } else {
        const frame = meter.parse(payload);
        this.ctx.metrics.inc('driver.mqtt.payloads');
        series?.frame(frame, this.ctx.clock.now());
      }
    } catch (error) {
      const code = errorCode(error);
      this.ctx.metrics.inc(`driver.mqtt.rejected.${code}`);
      const meterId = meterIdOf(meter);
      this.ctx.report.rejected(meterId, code);
      this.ctx.log.warn(
        { meter: meterId, topic, code, reason: (error as Error).message },
        'meter payload rejected',
      );
    }
  }
}

const meterIdOf = (meter: MqttMeter): string =>
  meter.kind === 'sealed' ? meter.meterId : meter.series.meterId;
