/**
 * Polls Modbus meters: the driver layer of STYLE.md §3 (transport → planned reads → decode.ts → MeterFrame).
 *
 * Devices sharing a physical connection (an RTU serial port, or one TCP host:port) form a bus: one loop per bus
 * sends strictly one request at a time, always to the device due first; buses run independently. A device that
 * does not answer (after `retries` further attempts of a read) is marked down and tried again after a back-off
 * (doubling from backoffInitialMs to backoffMaxMs, ±20 % jitter), so a dead meter costs the bus one short burst of
 * timeouts per back-off instead of one per interval, and never stops the others. An exception response or a
 * corrupt answer means the device is alive: the read is reported and the rest of the frame still delivered.
 *
 * A device whose map names a serial-number register (`identity`) has it read before its values at its first poll,
 * after the connection was opened again and after it was down (a meter swapped on a bus is unplugged first): a
 * serial is reported through onIdentity before the frame; a register that cannot be read or names no device is
 * reported as MODBUS_IDENTITY_UNREADABLE before the frame (the values are still read: the gateway refuses them if
 * the meter has a bound device) and read again at every poll until it answers. Values read after the connection
 * was opened again behind the serial's back (mid-poll) are dropped: no frame leaves without its connection's
 * serial having been asked for.
 *
 * Results leave through callbacks: onIdentity(deviceId, identity), onFrame(deviceId, frame) and onError(deviceId,
 * GatewayError). Nothing is thrown out of a loop; counters per device are in status().
 */
import { GatewayError } from '../../gateway/errors.ts';
import { systemClock, type Clock } from '../../gateway/time/clock.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import { decodeRegisters, type BlockWords } from './decode.ts';
import { buildBuses, type Bus, type Device, type DeviceStatus, type ModbusDevice } from './buses.ts';
import type { ReadBlock } from './read-plan.ts';
import { decodeIdentity, identityKey } from './identity.ts';
import { hex } from './register-map.ts';
import { abortableSleep, deadline, DeadlineError } from './timing.ts';
import { ModbusExceptionError, toModbusError, type TransportFactory } from './transport.ts';

export type { DeviceStatus, ModbusDevice } from './buses.ts';

export interface ModbusPollerOptions {
  devices: readonly ModbusDevice[];
  /** Time between the starts of two polls of a device. */
  intervalMs: number;
  /** How long to wait for each answer. */
  timeoutMs: number;
  /** Further attempts of a read that got no answer, before the device is marked down. */
  retries: number;
  /** First wait before a device that is down is tried again; doubles per failed poll up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface ModbusPollerDeps {
  transport: TransportFactory;
  onFrame: (deviceId: string, frame: MeterFrame) => void;
  onError: (deviceId: string, error: GatewayError) => void;
  /** The device's serial as its identity (identity.ts), before the frame of the same poll. */
  onIdentity?: (deviceId: string, identity: string) => void;
  /** Real elapsed time (the gateway's wall clock, not the data clock); default the system clock. */
  clock?: Clock;
  /** Resolves after `ms`, or at once when `signal` aborts; default a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), for the back-off jitter; default Math.random. */
  random?: () => number;
}

export class ModbusPoller {
  private buses: Bus[] = [];
  private loops: Promise<void>[] = [];
  private readonly abort = new AbortController();
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  /** Exceptions thrown by onFrame/onError, swallowed so that a consumer's bug cannot stop the loop. */
  callbackErrors = 0;

  constructor(
    private readonly opts: ModbusPollerOptions,
    private readonly deps: ModbusPollerDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.sleep = deps.sleep ?? abortableSleep;
    this.random = deps.random ?? Math.random;
  }

  /** Validates the devices (CONFIG_INVALID: duplicate ids, a unit id twice on a bus, line settings that differ). */
  start(): void {
    if (this.loops.length > 0 || this.abort.signal.aborted) {
      throw new GatewayError('DRIVER_FAILED', 'a ModbusPoller starts once');
    }
    this.buses = buildBuses(this.opts.devices, this.opts, this.deps.transport, this.clock.now());
    this.loops = this.buses.map((bus) => this.run(bus));
  }

  /** Stops the loops (a request in flight is awaited) and closes the connections. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    await Promise.all(this.buses.map((b) => b.transport.close().catch(() => undefined)));
  }

  status(): DeviceStatus[] {
    return this.buses.flatMap((b) => b.devices.map((d) => ({ ...d.status })));
  }

  private async run(bus: Bus): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const due = bus.devices.reduce((a, b) => (b.status.nextPollAt < a.status.nextPollAt ? b : a));
      const wait = due.status.nextPollAt - this.clock.now();
      if (wait > 0) {
        await this.sleep(wait, signal);
        continue;
      }
      try {
        await this.poll(bus, due);
      } catch (error) {
        // A bug, not a meter problem: report it and keep the bus going.
        due.status.nextPollAt = this.clock.now() + due.intervalMs;
        this.report(due, new GatewayError('DRIVER_FAILED', `${due.cfg.id}: poll failed`, { cause: error }));
      }
    }
  }

  private async poll(bus: Bus, d: Device): Promise<void> {
    const s = d.status;
    s.polls++;
    // A closed connection is a new one at the next read: its device is asked its serial before its values.
    const due = d.identityDue || (d.cfg.map.identity !== undefined && !bus.transport.isOpen);
    if (due && !(await this.identify(bus, d))) return;
    const connection = bus.connections;
    const blocks: BlockWords[] = [];
    for (const block of d.plan.blocks) {
      const result = await this.read(bus, d, { ...block, functionCode: d.plan.functionCode });
      if (this.abort.signal.aborted) return;
      if (Array.isArray(result)) {
        blocks.push({ address: block.address, words: result });
        continue;
      }
      if (result.code === 'MODBUS_EXCEPTION') s.exceptions++;
      else if (result.code === 'FRAME_MALFORMED') s.malformed++;
      if (unreachable(result)) {
        await this.down(bus, d, result);
        return;
      }
      this.report(d, result);
    }
    s.up = true;
    s.consecutiveFailures = 0;
    s.nextPollAt = Math.max(s.nextPollAt + d.intervalMs, this.clock.now());
    if (blocks.length === 0) return;
    // Reconnected during the values (identityDue is set again): whoever answered has not been asked its serial.
    if (d.cfg.map.identity !== undefined && bus.connections !== connection) {
      this.report(
        d,
        new GatewayError(
          'DEVICE_UNCONFIRMED',
          `${this.where(bus, d)}: reconnected while reading, values dropped until its serial is read`,
        ),
      );
      return;
    }
    const { frame, rejected } = decodeRegisters(d.cfg.map, blocks);
    // Registers of a failed read are 'missing'; that read was reported already.
    const bad = rejected.filter((r) => r.reason !== 'missing');
    if (bad.length > 0) {
      s.rejectedValues += bad.length;
      const list = bad.map((r) => `${r.obis} ${r.reason}`).join(', ');
      this.report(d, new GatewayError('FRAME_MALFORMED', `${this.where(bus, d)}: rejected ${list}`));
    }
    if (frame.values.length > 0) {
      s.frames++;
      this.emit(() => this.deps.onFrame(d.cfg.id, frame));
    }
  }

  /**
   * Reads the device's serial-number register and reports it; false when the device does not answer (it is then
   * down, and the poll ends).
   */
  private async identify(bus: Bus, d: Device): Promise<boolean> {
    const id = d.cfg.map.identity!;
    const where = `${this.where(bus, d)} serial number at ${hex(id.address)}`;
    const result = await this.read(bus, d, {
      address: id.address,
      length: id.words,
      functionCode: id.functionCode,
    });
    if (this.abort.signal.aborted) return false;
    if (!Array.isArray(result) && unreachable(result)) {
      await this.down(bus, d, result);
      return false;
    }
    const decoded = Array.isArray(result) ? decodeIdentity(id, result) : undefined;
    // Asked again at every poll until it answers: a flaky read costs a bound meter one poll's readings.
    d.identityDue = !decoded?.ok;
    if (decoded?.ok) {
      const identity = identityKey(id, decoded.serial);
      this.emit(() => this.deps.onIdentity?.(d.cfg.id, identity));
      return true;
    }
    const why = decoded ? `names no device (${decoded.reason})` : (result as GatewayError).message;
    this.report(
      d,
      new GatewayError('MODBUS_IDENTITY_UNREADABLE', `${where}: ${why}; read as an unidentified device`, {
        cause: Array.isArray(result) ? undefined : result,
      }),
    );
    return true;
  }

  /** The registers of one read, or the error of the last attempt. */
  private async read(
    bus: Bus,
    d: Device,
    block: Pick<ReadBlock, 'address' | 'length'> & { functionCode: 3 | 4 },
  ): Promise<number[] | GatewayError> {
    const t = bus.transport;
    const context = `${this.where(bus, d)} reading ${hex(block.address)}+${block.length}`;
    let last: GatewayError | undefined;
    for (let attempt = 0; attempt <= d.retries; attempt++) {
      if (attempt > 0 && this.abort.signal.aborted) break;
      try {
        if (!t.isOpen) {
          await deadline(t.connect(), d.timeoutMs);
          bus.connections++;
          // A new connection may lead to other devices (a TCP gateway restarted with other meters behind it).
          for (const x of bus.devices) x.identityDue = x.cfg.map.identity !== undefined;
        }
        t.setID(d.cfg.unitId);
        t.setTimeout(d.timeoutMs);
        // After a request that got no answer, its late answer must not be read as this one's (rtu-port.ts).
        await t.settle?.();
        const request =
          block.functionCode === 4
            ? t.readInputRegisters(block.address, block.length)
            : t.readHoldingRegisters(block.address, block.length);
        const { data } = await deadline(request, d.timeoutMs);
        if (!Array.isArray(data) || data.length !== block.length) {
          return new GatewayError('FRAME_MALFORMED', `${context}: answer has the wrong number of registers`);
        }
        return data;
      } catch (error) {
        last = toModbusError(error, context);
        if (last.code !== 'DEVICE_TIMEOUT') return last;
        d.status.timeouts++;
        if (error instanceof DeadlineError) await t.close(); // the transport is stuck: start afresh
      }
    }
    return last ?? new GatewayError('DEVICE_TIMEOUT', `${context}: stopped`);
  }

  private async down(bus: Bus, d: Device, error: GatewayError): Promise<void> {
    const s = d.status;
    s.up = false;
    s.consecutiveFailures++;
    // What answers when it comes back may be another meter (swapped while it was silent): read its serial again.
    d.identityDue = d.cfg.map.identity !== undefined;
    const base = Math.min(
      this.opts.backoffMaxMs,
      this.opts.backoffInitialMs * 2 ** Math.min(s.consecutiveFailures - 1, 30),
    );
    // ±20 % jitter so that meters that failed together are not retried in lock-step.
    s.nextPollAt = this.clock.now() + Math.round(base * (0.8 + 0.4 * this.random()));
    // Nobody on the bus answers: the connection itself may be dead (a TCP peer gone without a FIN).
    if (bus.devices.every((x) => !x.status.up && x.status.polls > 0)) await bus.transport.close();
    this.report(d, error);
  }

  private where(bus: Bus, d: Device): string {
    return `${d.cfg.id} (unit ${d.cfg.unitId} at ${bus.key})`;
  }

  private report(d: Device, error: GatewayError): void {
    this.emit(() => this.deps.onError(d.cfg.id, error));
  }

  private emit(fn: () => void): void {
    try {
      fn();
    } catch {
      this.callbackErrors++;
    }
  }
}

/**
 * No answer from the device: a timeout, a connection or port that cannot be opened, or a TCP gateway's exception
 * 0A/0B (gateway path unavailable, target device failed to respond: Modbus Application Protocol v1.1b3 §7).
 */
function unreachable(error: GatewayError): boolean {
  if (error instanceof ModbusExceptionError) return error.exceptionCode === 10 || error.exceptionCode === 11;
  return (
    error.code === 'DEVICE_TIMEOUT' ||
    error.code === 'SERIAL_PORT_FAILED' ||
    // A bus the gateway may not open (not in the dialout group) is as unreachable as an unplugged one.
    error.code === 'SERIAL_PERMISSION'
  );
}
