/**
 * The load of `npm run soak`: N emulated MQTT meters, each a recorded household's register (RegisterModel),
 * publishing the gateway's generic JSON at every interval boundary of a shared virtual clock, as a fleet of
 * Tasmota-style bridges would. One client publishes for all of them, spread over the first `spreadMs` of each
 * boundary (real meters do not all speak in the same millisecond). It also keeps what it published, so that the
 * soak can compute every neighbourhood's exact sum independently of the gateway.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../../gateway/time/clock.ts';
import { genericPayload } from '../emulate/mqtt-payloads.ts';
import type { RegisterModel } from '../emulate/register-model.ts';

export interface FleetMeter {
  id: string;
  neighbourhood: string;
  topic: string;
  register: RegisterModel;
}

export interface MeterFleetOptions {
  url: string;
  meters: readonly FleetMeter[];
  /** The shared virtual clock (the gateway's `clock` settings) and its speed. */
  clock: Clock;
  speed: number;
  intervalMs: number;
  /** Real milliseconds over which one boundary's publications are spread. */
  spreadMs: number;
  /** First boundary published (virtual epoch ms). */
  from: number;
}

/** Wh as the gateway reads a generic payload: kWh with three decimals. */
export function publishedWh(register: RegisterModel, t: number): number {
  return Math.round(Number((register.valueAt(t) / 1000).toFixed(3)) * 1000);
}

export class MeterFleet {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next: number;
  private stopped = false;
  /** Boundaries whose every publication the broker acknowledged. */
  readonly boundaries: number[] = [];
  published = 0;
  failed = 0;

  constructor(private readonly opts: MeterFleetOptions) {
    this.next = opts.from;
  }

  async start(): Promise<void> {
    this.client = await mqtt.connectAsync(this.opts.url, { clientId: `soak-fleet-${process.pid}` });
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.client?.endAsync();
  }

  private schedule(): void {
    if (this.stopped) return;
    // Virtual milliseconds until the boundary, in real ones.
    const wait = Math.max(0, (this.next - this.opts.clock.now()) / this.opts.speed);
    this.timer = setTimeout(() => void this.publishBoundary(this.next), wait);
  }

  private async publishBoundary(t: number): Promise<void> {
    const client = this.client!;
    const { meters, spreadMs } = this.opts;
    const gap = spreadMs / Math.max(1, meters.length);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < meters.length; i++) {
      if (this.stopped) return;
      const m = meters[i]!;
      const payload = genericPayload(t, m.register.valueAt(t));
      sends.push(
        client.publishAsync(m.topic, payload, { qos: 1 }).then(
          () => this.published++,
          () => this.failed++,
        ),
      );
      // Spread the boundary's messages; a few per timer turn keeps the timer count low.
      if (gap >= 1 && i % 10 === 9) await new Promise((r) => setTimeout(r, gap * 10));
    }
    await Promise.all(sends);
    this.boundaries.push(t);
    this.next = t + this.opts.intervalMs;
    this.schedule();
  }
}
