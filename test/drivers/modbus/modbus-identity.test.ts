/**
 * A Modbus meter's serial as its device identity (issue #14 A), end to end below the intake: the Modbus driver as
 * the gateway builds it (build-modbus.ts), polling register-server.ts over real Modbus TCP connections on loopback
 * ports, reporting to the gateway's MeterGuard over a real device store (a SQLite buffer file). Checked at what the
 * gateway keeps and does: the binding in the store, the refusal the intake would throw at the meter's next
 * reading (guard.admit), the counters and the log.
 *
 * A meter "swapped" is its server stopped and another one started on the same port with another serial: the
 * connection drops, the driver connects again and reads the serial again. Every wait is for a condition.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildModbusDriver } from '../../../drivers/modbus/build-modbus.ts';
import type { ModbusMeterDriver } from '../../../drivers/modbus/modbus-meter-driver.ts';
import { loadRegisterMap, type RegisterMap } from '../../../drivers/modbus/register-map.ts';
import { RegisterServer } from '../../../drivers/modbus/register-server.ts';
import { modbusSerialTransport } from '../../../drivers/modbus/transport.ts';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { MeterGuard } from '../../../gateway/devices/meter-guard.ts';
import { errorCode } from '../../../gateway/errors.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait.ts';
import { captureLog } from './capture-log.ts';

const WAIT_MS = 20_000;
const SDM630 = loadRegisterMap('eastron-sdm630');

const cleanups: (() => Promise<void> | void)[] = [];
let buffer: BufferStore | undefined;
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  buffer?.close();
  buffer = undefined;
});

/** An emulated SDM630 at unit 1 of a loopback port, reporting `serial()` (undefined: no serial register). */
async function meterAt(port: number, serial: () => string | undefined, map: RegisterMap = SDM630) {
  const server = new RegisterServer({
    endpoint: { kind: 'tcp', port },
    units: [{ unitId: 1, map, serial, values: (obis) => (obis === '1-0:1.8.0' ? 1234.5 : 230) }],
  });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

/**
 * The driver for meters m1 and m2 (unit 1 at one port each), reporting to a MeterGuard over a real store. With
 * `m2ByCommand`, m2 is not in the configuration the gateway started with: a command added it (issue #14 F1).
 */
function gatewayFor(ports: Record<'m1' | 'm2', number>, opts: { m2ByCommand?: boolean } = {}) {
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: {
      modbus: {
        buses: {
          a: { transport: 'tcp', host: '127.0.0.1', port: ports.m1 },
          b: { transport: 'tcp', host: '127.0.0.1', port: ports.m2 },
        },
        pollSeconds: 1,
        timeoutMs: 1000,
        retries: 0,
        backoffMaxSeconds: 1,
      },
    },
    neighbourhoods: [{ id: 'n' }],
    meters: (['m1', 'm2'] as const).map((id, i) => ({
      id,
      neighbourhood: 'n',
      account: `acc-${id}`,
      source: { driver: 'modbus', bus: i === 0 ? 'a' : 'b', unit: 1, model: 'eastron-sdm630' },
    })),
  });
  const metrics = new Metrics();
  buffer = openTestBuffer(35n ** 2n, metrics);
  const logs = captureLog();
  const start = opts.m2ByCommand ? { ...config, meters: config.meters.filter((m) => m.id !== 'm2') } : config;
  const guard = new MeterGuard(start, buffer.devices, (p) => p, { now: () => 1000 }, metrics, logs.log);
  guard.reset(config);
  const readings: Reading[] = [];
  const driver = buildModbusDriver(
    config,
    (ms) => ({
      ...driverContext({ meters: ms, readings, clock: new ManualClock(0), intervalMs: 900_000, metrics }),
      identify: guard.identify,
      unidentified: guard.unidentified,
      log: logs.log,
    }),
    modbusSerialTransport,
  ) as ModbusMeterDriver;
  cleanups.push(() => driver.stop());
  const meter = (id: string) => config.meters.find((m) => m.id === id)!;
  const frames = (id: string) => driver.status().find((s) => s.id === id)?.frames ?? 0;
  const diag = () =>
    JSON.stringify({ status: driver.status(), metrics: metrics.snapshot(), logs: logs.entries });
  return {
    driver,
    metrics,
    logs,
    store: buffer.devices,
    /** What the intake would do with the meter's next reading: '' if taken, else the refusal's code. */
    admit: (id: string) => {
      try {
        guard.admit(meter(id));
        return '';
      } catch (error) {
        return errorCode(error);
      }
    },
    waitFor: (what: string, check: () => boolean) => waitFor(check, WAIT_MS, what, diag),
    /** Waits for `n` more frames of the meter than it has now. */
    framesMore: async (id: string, n: number) => {
      const from = frames(id);
      await waitFor(() => frames(id) >= from + n, WAIT_MS, `${n} more frames of ${id}`, diag);
    },
  };
}

describe('Modbus serial number as the device identity', () => {
  it('binds the serial to its meter; the same serial on a second endpoint is DEVICE_BOUND_ELSEWHERE', async () => {
    const ports = { m1: await freePort(), m2: await freePort() };
    await meterAt(ports.m1, () => '20207224');
    const gw = gatewayFor(ports);
    await gw.driver.start();
    await gw.waitFor(
      'the serial bound',
      () => gw.store.binding('modbus-serial:eastron:20207224') !== undefined,
    );
    expect(gw.store.binding('modbus-serial:eastron:20207224')).toEqual({
      meterId: 'm1',
      neighbourhood: 'n',
      kind: 'device',
    });
    expect(gw.store.deviceOf('m1')).toBe('modbus-serial:eastron:20207224');
    expect(gw.admit('m1')).toBe('');

    // The same meter answers on a second endpoint (another path to it, or a copy of its serial): refused there.
    await meterAt(ports.m2, () => '20207224');
    await gw.waitFor('m2 refused', () => gw.metrics.get('devices.refused.DEVICE_BOUND_ELSEWHERE') > 0);
    expect(gw.admit('m2')).toBe('DEVICE_BOUND_ELSEWHERE');
    expect(gw.admit('m1')).toBe('');
    expect(gw.store.binding('modbus-serial:eastron:20207224')?.meterId).toBe('m1');
    expect(gw.store.deviceOf('m2')).toBeUndefined();
    // Logged once, though m2 is read on.
    await gw.framesMore('m2', 2);
    expect(gw.logs.find('meter refused', 'm2')).toHaveLength(1);
    expect(gw.metrics.get('devices.refused.DEVICE_BOUND_ELSEWHERE')).toBe(1);
  });

  it('a meter swapped on its endpoint and unit (another serial after the reconnect) is DEVICE_CHANGED', async () => {
    const ports = { m1: await freePort(), m2: await freePort() };
    const first = await meterAt(ports.m1, () => '1001');
    await meterAt(ports.m2, () => '2002');
    const gw = gatewayFor(ports);
    await gw.driver.start();
    await gw.waitFor(
      'both bound',
      () => gw.store.deviceOf('m1') !== undefined && gw.store.deviceOf('m2') !== undefined,
    );
    expect([gw.store.deviceOf('m1'), gw.store.deviceOf('m2')]).toEqual([
      'modbus-serial:eastron:1001',
      'modbus-serial:eastron:2002',
    ]);
    // The same meter seen again after a reconnect is no change.
    await first.stop();
    const again = await meterAt(ports.m1, () => '1001');
    await gw.framesMore('m1', 2);
    expect(gw.admit('m1')).toBe('');

    // Another meter on m1's endpoint and unit.
    await again.stop();
    const other = await meterAt(ports.m1, () => '3003');
    await gw.waitFor('m1 refused', () => gw.metrics.get('devices.refused.DEVICE_CHANGED') > 0);
    expect(gw.admit('m1')).toBe('DEVICE_CHANGED');
    expect(gw.admit('m2')).toBe('');
    expect(gw.store.deviceOf('m1')).toBe('modbus-serial:eastron:1001');
    expect(gw.store.binding('modbus-serial:eastron:3003')).toBeUndefined();
    // The other device's values stay out of m1's intervals (an interval spanning both would leak one of them),
    // and m1 is read again once its own device answers.
    await gw.framesMore('m1', 2);
    expect(gw.metrics.get('driver.modbus.frames_unconfirmed')).toBeGreaterThanOrEqual(2);
    await other.stop();
    await meterAt(ports.m1, () => '1001');
    const held = gw.metrics.get('driver.modbus.frames_unconfirmed');
    await gw.framesMore('m1', 2);
    expect(gw.admit('m1')).toBe('');
    expect(gw.metrics.get('driver.modbus.frames_unconfirmed')).toBe(held);
  });

  it('a serial register that cannot be read is tried at every poll, logged once; a meter never bound is read on, unidentified', async () => {
    const ports = { m1: await freePort(), m2: await freePort() };
    // m1: firmware without the register (exception 02); m2: a serial of zeros, which names no device.
    await meterAt(ports.m1, () => undefined);
    await meterAt(ports.m2, () => '0');
    const gw = gatewayFor(ports);
    await gw.driver.start();
    await gw.framesMore('m1', 3);
    await gw.framesMore('m2', 3);
    // Asked before every poll's values (6 polls at least), warned once per meter.
    expect(gw.metrics.get('driver.modbus.errors.MODBUS_IDENTITY_UNREADABLE')).toBeGreaterThanOrEqual(6);
    expect(gw.logs.find('Modbus meter serial not read').map((e) => [e.meter, e.code])).toEqual(
      expect.arrayContaining([
        ['m1', 'MODBUS_IDENTITY_UNREADABLE'],
        ['m2', 'MODBUS_IDENTITY_UNREADABLE'],
      ]),
    );
    expect(gw.logs.find('Modbus meter serial not read')).toHaveLength(2);
    expect(gw.logs.find('Modbus meter serial not read', 'm2')[0]?.reason).toMatch(
      /names no device \(blank\)/,
    );
    expect(gw.store.deviceOf('m1')).toBeUndefined();
    expect(gw.store.deviceOf('m2')).toBeUndefined();
    expect([gw.admit('m1'), gw.admit('m2')]).toEqual(['', '']);
    // Not a refused frame, not a link down.
    expect(gw.metrics.get('driver.modbus.frames')).toBeGreaterThanOrEqual(6);
    expect(gw.metrics.get('driver.modbus.frames_unconfirmed')).toBe(0);
  });

  it("the reviewer's swap: a meter added by a command, bound by one faked serial, is refused once its endpoint leads to a meter without a serial", async () => {
    const ports = { m1: await freePort(), m2: await freePort() };
    // m1: the household's meter, old firmware (serial register answers exception 02), in the start configuration.
    await meterAt(ports.m1, () => undefined);
    // m2 ("twin"), added by a command: first its endpoint leads to the attacker's server with a fresh serial.
    const fake = await meterAt(ports.m2, () => '77777777');
    const gw = gatewayFor(ports, { m2ByCommand: true });
    expect(gw.admit('m2')).toBe('DEVICE_UNVERIFIABLE');
    await gw.driver.start();
    await gw.waitFor('twin bound', () => gw.store.deviceOf('m2') !== undefined);
    await gw.framesMore('m2', 1);
    expect([gw.admit('m1'), gw.admit('m2')]).toEqual(['', '']);
    expect(gw.metrics.get('driver.modbus.frames_unconfirmed')).toBe(0);

    // The endpoint now leads to a meter whose serial cannot be read (the household's, behind a re-pointed name).
    await fake.stop();
    await meterAt(ports.m2, () => undefined);
    await gw.waitFor('twin held', () => gw.metrics.get('devices.refused.DEVICE_UNCONFIRMED') > 0);
    await gw.framesMore('m2', 3);
    expect(gw.admit('m2')).toBe('DEVICE_UNCONFIRMED');
    // Its values never reach its intervals: every frame of the connection is refused, counted.
    const polled = gw.metrics.get('driver.modbus.frames_unconfirmed');
    expect(polled).toBeGreaterThanOrEqual(3);
    // Logged and counted once for the episode; the household's own meter (no bound device) is read as before.
    expect(gw.metrics.get('devices.refused.DEVICE_UNCONFIRMED')).toBe(1);
    expect(gw.logs.find('meter held: its device did not confirm its serial').map((e) => e.meter)).toEqual([
      'm2',
    ]);
    expect(gw.admit('m1')).toBe('');
    expect(gw.store.deviceOf('m1')).toBeUndefined();
    expect(gw.store.deviceOf('m2')).toBe('modbus-serial:eastron:77777777');
  });

  it('a bound meter whose serial read fails once on a new connection loses that poll only', async () => {
    const ports = { m1: await freePort(), m2: await freePort() };
    const first = await meterAt(ports.m1, () => '1001');
    await meterAt(ports.m2, () => '2002');
    const gw = gatewayFor(ports);
    await gw.driver.start();
    await gw.waitFor('m1 bound', () => gw.store.deviceOf('m1') !== undefined);
    await gw.framesMore('m1', 1);
    // Reconnected to the same meter, whose first serial read answers exception 02.
    await first.stop();
    let reads = 0;
    await meterAt(ports.m1, () => (reads++ === 0 ? undefined : '1001'));
    await gw.waitFor('m1 held', () => gw.metrics.get('devices.refused.DEVICE_UNCONFIRMED') > 0);
    expect(gw.admit('m1')).toBe('DEVICE_UNCONFIRMED');
    // The next poll reads the serial again before its values: taken again.
    await gw.framesMore('m1', 2);
    expect(gw.admit('m1')).toBe('');
    expect(gw.metrics.get('driver.modbus.errors.MODBUS_IDENTITY_UNREADABLE')).toBe(1);
    expect(gw.metrics.get('driver.modbus.frames_unconfirmed')).toBe(1);
    expect(gw.logs.find('Modbus meter serial read again', 'm1')).toHaveLength(1);
    expect(gw.admit('m2')).toBe('');
  });
});
