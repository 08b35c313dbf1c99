/**
 * The meter guard on a disk that is full or read-only: the binding checks run before the writes, so a meter whose
 * binding cannot be written is not refused (its readings are held like every other while the disk is full) and
 * its binding is written at a later reading; a real refusal is kept and thrown at every reading. A Modbus meter
 * added by a command is held until it has reported its serial (issue #14 A), and a meter with a bound device is
 * refused while its connection has not confirmed it (DEVICE_UNCONFIRMED), on a real device store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import type { DeviceStore } from '../../../gateway/buffer/device-store.ts';
import { errorCode, GatewayError } from '../../../gateway/errors.ts';
import { MeterGuard } from '../../../gateway/devices/meter-guard.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { createLogger } from '../../../gateway/observe/log.ts';
import { captureLog } from '../../drivers/modbus/capture-log.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';

const sqliteError = (code: string) => Object.assign(new Error('database or disk is full'), { code });

function guardWith(bind: () => void) {
  let calls = 0;
  const store = {
    bindSources: () => {
      calls++;
      bind();
    },
    identify: () => bind(),
  } as unknown as DeviceStore;
  const config = validateConfig({
    gateway: { id: 'gw-1' },
    keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem' },
    upstream: { url: 'mqtt://127.0.0.1:1883' },
    drivers: { replay: { file: '/data/c.csv' } },
    neighbourhoods: [{ id: 'north' }],
    meters: [
      { id: 'm01', neighbourhood: 'north', account: 'A1', source: { driver: 'replay', household: 'h1' } },
    ],
  });
  const guard = new MeterGuard(
    config,
    store,
    (p) => p,
    { now: () => 0 },
    new Metrics(),
    createLogger({ level: 'silent' }),
  );
  return { guard, meter: config.meters[0]!, calls: () => calls };
}

describe('MeterGuard', () => {
  it('lets a reading through when the binding cannot be written (disk full), and writes it at the next one', () => {
    let fail = true;
    const { guard, meter, calls } = guardWith(() => {
      if (fail) throw sqliteError('SQLITE_FULL');
    });
    expect(() => guard.admit(meter)).not.toThrow();
    fail = false;
    guard.admit(meter);
    guard.admit(meter);
    // Tried again after the failed write, then bound once.
    expect(calls()).toBe(2);
  });

  it('keeps a refusal of the binding and throws it at every reading', () => {
    const { guard, meter, calls } = guardWith(() => {
      throw new GatewayError('DEVICE_BOUND_ELSEWHERE', 'bound to m9');
    });
    expect(() => guard.admit(meter)).toThrow(/bound to m9/);
    expect(() => guard.admit(meter)).toThrow(/bound to m9/);
    expect(calls()).toBe(1);
  });
});

describe('MeterGuard: a Modbus meter added by a command', () => {
  const metrics = new Metrics();
  let buffer: BufferStore | undefined;
  afterEach(() => buffer?.close());

  const modbus = (id: string, nb: string, unit: number) => ({
    id,
    neighbourhood: nb,
    account: `A-${id}`,
    source: { driver: 'modbus', bus: 'lan', unit, model: 'eastron-sdm630' },
  });
  const configWith = (meters: unknown[], neighbourhoods: string[]) =>
    validateConfig({
      gateway: { id: 'gw-1' },
      keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem' },
      upstream: { url: 'mqtt://127.0.0.1:1883' },
      drivers: { modbus: { buses: { lan: { transport: 'tcp', host: '10.0.0.5', port: 502 } } } },
      neighbourhoods: neighbourhoods.map((id) => ({ id })),
      meters,
    });
  const codeOf = (fn: () => void) => {
    try {
      fn();
      return '';
    } catch (error) {
      return errorCode(error);
    }
  };

  it('is held until it reports its serial, and refused if that serial is bound elsewhere', () => {
    buffer = openTestBuffer(35n ** 2n, metrics);
    const start = configWith([modbus('m01', 'north', 1)], ['north']);
    const logs = captureLog();
    const guard = new MeterGuard(start, buffer.devices, (p) => p, { now: () => 0 }, metrics, logs.log);
    // A meter of the start configuration is read even before (or without) a serial, as before.
    expect(codeOf(() => guard.admit(start.meters[0]!))).toBe('');
    guard.identify('m01', 'modbus-serial:eastron:1001');

    const next = configWith(
      [modbus('m01', 'north', 1), modbus('x1', 'spy', 2), modbus('x2', 'spy', 3)],
      ['north', 'spy'],
    );
    guard.reset(next);
    const [, x1, x2] = next.meters;
    expect(codeOf(() => guard.admit(x1!))).toBe('DEVICE_UNVERIFIABLE');
    expect(codeOf(() => guard.admit(x1!))).toBe('DEVICE_UNVERIFIABLE');
    expect(codeOf(() => guard.admit(x2!))).toBe('DEVICE_UNVERIFIABLE');
    // Counted and logged once per meter, not per reading (the intake counts the readings).
    expect(metrics.get('devices.refused.DEVICE_UNVERIFIABLE')).toBe(2);
    expect(logs.find('meter held').map((e) => e.meter)).toEqual(['x1', 'x2']);

    guard.identify('x1', 'modbus-serial:eastron:2002');
    expect(codeOf(() => guard.admit(x1!))).toBe('');
    // x2 is m01's meter under another unit id: its serial says so.
    guard.identify('x2', 'modbus-serial:eastron:1001');
    expect(codeOf(() => guard.admit(x2!))).toBe('DEVICE_BOUND_ELSEWHERE');
    expect(codeOf(() => guard.admit(start.meters[0]!))).toBe('');
    expect(buffer.devices.deviceOf('x1')).toBe('modbus-serial:eastron:2002');
    expect(buffer.devices.deviceOf('x2')).toBeUndefined();
  });

  it('stays held after a restart while the store records it as added by a command', () => {
    buffer = openTestBuffer(35n ** 2n, metrics);
    const next = configWith([modbus('m01', 'north', 1), modbus('x1', 'spy', 2)], ['north', 'spy']);
    // The command's record (LiveConfig.recordAdded, before the file is written), then a restart: x1 is in the start configuration now.
    buffer.devices.recordCommanded(['x1'], 0);
    const guard = new MeterGuard(next, buffer.devices, (p) => p, { now: () => 0 }, metrics, captureLog().log);
    const [m01, x1] = next.meters;
    expect(codeOf(() => guard.admit(m01!))).toBe('');
    expect(codeOf(() => guard.admit(x1!))).toBe('DEVICE_UNVERIFIABLE');
    guard.identify('x1', 'modbus-serial:eastron:2002');
    expect(codeOf(() => guard.admit(x1!))).toBe('');
    // Once its serial is bound, a later restart reads it at once.
    const again = new MeterGuard(next, buffer.devices, (p) => p, { now: () => 0 }, metrics, captureLog().log);
    expect(codeOf(() => again.admit(x1!))).toBe('');
  });

  it('refuses a bound meter whose connection did not report its serial until it reports the bound one', () => {
    buffer = openTestBuffer(35n ** 2n, metrics);
    const config = configWith([modbus('m01', 'north', 1), modbus('m02', 'north', 2)], ['north']);
    const logs = captureLog();
    const guard = new MeterGuard(config, buffer.devices, (p) => p, { now: () => 0 }, metrics, logs.log);
    const [m01, m02] = config.meters;
    const before = metrics.get('devices.refused.DEVICE_UNCONFIRMED');
    guard.identify('m01', 'modbus-serial:eastron:1001');
    expect(codeOf(() => guard.admit(m01!))).toBe('');

    // A new connection whose serial read failed: refused, counted and logged once for the episode.
    expect(guard.unidentified('m01')).toBe(true);
    expect(guard.unidentified('m01')).toBe(true);
    expect(codeOf(() => guard.admit(m01!))).toBe('DEVICE_UNCONFIRMED');
    expect(codeOf(() => guard.admit(m01!))).toBe('DEVICE_UNCONFIRMED');
    expect(metrics.get('devices.refused.DEVICE_UNCONFIRMED') - before).toBe(1);
    expect(logs.find('meter held: its device did not confirm its serial')).toHaveLength(1);
    // Kept across a new configuration (a command cannot lift it).
    guard.reset(config);
    expect(codeOf(() => guard.admit(m01!))).toBe('DEVICE_UNCONFIRMED');
    // The serial it reported before (the guard's cache of it must not skip the check): taken again.
    guard.identify('m01', 'modbus-serial:eastron:1001');
    expect(codeOf(() => guard.admit(m01!))).toBe('');

    // Another episode, ended by another serial: the device changed.
    expect(guard.unidentified('m01')).toBe(true);
    guard.identify('m01', 'modbus-serial:eastron:3003');
    expect(codeOf(() => guard.admit(m01!))).toBe('DEVICE_CHANGED');
    expect(metrics.get('devices.refused.DEVICE_UNCONFIRMED') - before).toBe(2);

    // A meter that never had a serial bound (old firmware) is read as before; an unknown meter is ignored.
    expect(guard.unidentified('m02')).toBe(false);
    expect(codeOf(() => guard.admit(m02!))).toBe('');
    expect(guard.unidentified('nobody')).toBe(false);
  });
});
