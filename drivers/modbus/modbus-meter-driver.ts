/**
 * Meters polled over Modbus (RTU buses and TCP hosts): the poller (`modbus-poller.ts`) reads each meter's
 * register map on schedule; each frame goes to the meter's series (register → interval readings, placed by the
 * gateway's clock: Modbus carries no time). A meter that does not answer is reported when it goes down and when it
 * comes back, and counted; the others keep being read. A meter whose map names a serial-number register reports its
 * serial (DriverContext.identify) before its first frame and again after a reconnect; one whose serial cannot be
 * read is counted, logged once until it is read again, reported (DriverContext.unidentified: the gateway refuses
 * the readings of a meter whose device is bound until it confirms it) and otherwise read as an unidentified
 * device, known by its endpoint and unit only.
 */
import type { GatewayError } from '../../gateway/errors.ts';
import { MeterSeries, seriesDepsOf, type MeterSeriesOptions } from '../common/meter-series.ts';
import type { Driver, DriverContext } from '../driver.ts';
import { ModbusPoller, type ModbusDevice, type ModbusPollerOptions } from './modbus-poller.ts';
import type { TransportFactory } from './transport.ts';

export interface ModbusMeter {
  device: ModbusDevice;
  series: MeterSeriesOptions;
}

export interface ModbusMeterOptions extends Omit<ModbusPollerOptions, 'devices'> {
  meters: ModbusMeter[];
}

export class ModbusMeterDriver implements Driver {
  readonly name = 'modbus';
  private readonly poller: ModbusPoller;
  private readonly series = new Map<string, MeterSeries>();
  /** Meters currently reported as not answering. */
  private readonly down = new Set<string>();
  /** Meters whose serial could not be read since it was last read (warned once per episode). */
  private readonly unidentified = new Set<string>();
  /** Of those, the meters with a bound device: their values stay out of their series until it is read. */
  private readonly held = new Map<string, 'DEVICE_UNCONFIRMED' | 'DEVICE_CHANGED'>();

  constructor(
    opts: ModbusMeterOptions,
    private readonly ctx: DriverContext,
    transport: TransportFactory,
  ) {
    for (const m of opts.meters) {
      this.series.set(m.device.id, new MeterSeries(m.series, seriesDepsOf(ctx, m.series.meterId)));
    }
    const { meters, ...pollerOpts } = opts;
    this.poller = new ModbusPoller(
      { ...pollerOpts, devices: meters.map((m) => m.device) },
      {
        transport,
        onFrame: (id, frame) => {
          if (this.down.delete(id)) ctx.log.info({ meter: id }, 'Modbus meter answering again');
          ctx.metrics.inc('driver.modbus.frames');
          ctx.report.link(id, true);
          const held = this.held.get(id);
          if (held) {
            // Refused by the gateway (logged there); counted per frame here.
            ctx.metrics.inc('driver.modbus.frames_unconfirmed');
            ctx.report.rejected(id, held);
            return;
          }
          this.series.get(id)?.frame(frame, ctx.clock.now());
        },
        onError: (id, error) => this.onError(id, error),
        onIdentity: (id, identity) => {
          if (this.unidentified.delete(id)) ctx.log.info({ meter: id }, 'Modbus meter serial read again');
          // Another device answering (DEVICE_CHANGED, bound elsewhere): its values stay out of the series too, so
          // no interval spans two devices once the meter's own answers again.
          if (ctx.identify?.(id, identity) === false) this.held.set(id, 'DEVICE_CHANGED');
          else this.held.delete(id);
        },
      },
    );
  }

  start(): Promise<void> {
    this.poller.start();
    this.ctx.log.info({ meters: this.series.size }, 'Modbus polling started');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** Per-meter poll counters, for status reports. */
  status() {
    return this.poller.status();
  }

  private onError(id: string, error: GatewayError): void {
    const { ctx } = this;
    ctx.metrics.inc(`driver.modbus.errors.${error.code}`);
    if (error.code === 'MODBUS_IDENTITY_UNREADABLE') {
      // Not a refused frame nor a link down: the values are read on (refused by the gateway if the meter has a
      // bound device); tried again every poll, warned once until the serial is read again.
      if (ctx.unidentified?.(id)) this.held.set(id, 'DEVICE_UNCONFIRMED');
      if (this.unidentified.has(id)) return;
      this.unidentified.add(id);
      ctx.log.warn({ meter: id, code: error.code, reason: error.message }, 'Modbus meter serial not read');
      return;
    }
    const status = this.poller.status().find((s) => s.id === id);
    // Down means a poll got no answer (counted in consecutiveFailures before it is reported); `up` alone is also
    // false during a meter's first poll, when an exception or corrupt answer shows that the meter is alive.
    const down = status !== undefined && !status.up && status.consecutiveFailures > 0;
    // Not answering is the link's state; an answer that is refused (exception, corrupt registers) is a reject.
    if (down) ctx.report.link(id, false);
    else ctx.report.rejected(id, error.code);
    if (down && !this.down.has(id)) {
      this.down.add(id);
      ctx.log.warn(
        { meter: id, code: error.code, reason: error.message },
        'Modbus meter not answering; retried with back-off, the other meters go on',
      );
    } else {
      ctx.log.debug({ meter: id, code: error.code, reason: error.message }, 'Modbus read failed');
    }
  }
}
