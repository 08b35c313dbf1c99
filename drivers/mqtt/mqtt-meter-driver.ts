/**
 * Meters that publish over a local MQTT broker (Tasmota bridges, the gateway's generic JSON): one subscription per
 * meter topic; each payload is parsed by the meter's format and handed to the meter's series. A malformed payload
 * is counted under its code and dropped; an unreachable broker is retried by mqtt.js and reported once.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { errorCode } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import { MeterSeries, type MeterSeriesOptions } from '../common/meter-series.ts';
import type { Driver, DriverContext } from '../driver.ts';

export type MqttConnect = (url: string, opts: IClientOptions) => MqttClient;

export interface MqttMeter {
  topic: string;
  parse(payload: Buffer): MeterFrame;
  series: MeterSeriesOptions;
}

export interface MqttMeterOptions {
  url: string;
  client: IClientOptions;
  meters: MqttMeter[];
}

export class MqttMeterDriver implements Driver {
  readonly name = 'mqtt';
  private client: MqttClient | undefined;
  private readonly byTopic = new Map<string, { meter: MqttMeter; series: MeterSeries }>();
  private reportedDown = false;

  constructor(
    private readonly opts: MqttMeterOptions,
    private readonly ctx: DriverContext,
    private readonly connect: MqttConnect,
  ) {
    for (const meter of opts.meters) {
      const series = new MeterSeries(meter.series, {
        sink: ctx.sink,
        metrics: ctx.metrics,
        log: ctx.log,
        cursor: () => ctx.cursor(meter.series.meterId),
      });
      this.byTopic.set(meter.topic, { meter, series });
    }
  }

  start(): Promise<void> {
    const { ctx } = this;
    const client = this.connect(this.opts.url, this.opts.client);
    this.client = client;
    client.on('connect', () => {
      this.reportedDown = false;
      ctx.log.info({ url: this.opts.url, topics: this.byTopic.size }, 'meter broker connected');
      client.subscribe([...this.byTopic.keys()], { qos: 0 }, (error) => {
        if (error) ctx.log.error({ reason: error.message }, 'meter topics could not be subscribed');
      });
    });
    client.on('offline', () => {
      ctx.metrics.inc('driver.mqtt.offline');
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

  private onMessage(topic: string, payload: Buffer): void {
    const entry = this.byTopic.get(topic);
    if (!entry) return;
    try {
      const frame = entry.meter.parse(payload);
      this.ctx.metrics.inc('driver.mqtt.payloads');
      entry.series.frame(frame, this.ctx.clock.now());
    } catch (error) {
      const code = errorCode(error);
      this.ctx.metrics.inc(`driver.mqtt.rejected.${code}`);
      this.ctx.log.warn(
        { meter: entry.meter.series.meterId, topic, code, reason: (error as Error).message },
        'meter payload rejected',
      );
    }
  }
}
