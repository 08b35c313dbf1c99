/**
 * The meter guard on a disk that is full or read-only: the binding checks run before the writes, so a meter whose
 * binding cannot be written is not refused (its readings are held like every other while the disk is full) and
 * its binding is written at a later reading; a real refusal is kept and thrown at every reading.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceStore } from '../../../gateway/buffer/device-store.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { MeterGuard } from '../../../gateway/devices/meter-guard.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { createLogger } from '../../../gateway/observe/log.ts';

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
