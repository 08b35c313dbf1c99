/**
 * The on-site steps on a real buffer file: `--check` and the doctor see a re-pointed meter, `rehome` releases its
 * bindings, retires its id, deletes its enrolment code and is recorded; without a reason it is refused.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../gateway/buffer/database.ts';
import { DeviceStore } from '../../../gateway/buffer/device-store.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { loadEnrolmentCodes, storeEnrolmentCode } from '../../../gateway/customer/enrolment-codes.ts';
import {
  bindingIssuesReadOnly,
  boundIdentityReadOnly,
  checkBindings,
  meterIdState,
  rehomeMeter,
} from '../../../gateway/devices/on-site.ts';
import { sourceKeys } from '../../../gateway/devices/source-keys.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const KEY = 'A'.repeat(43);

function site(ids = ['m1', 'm2']) {
  const dir = mkdtempSync(path.join(tmpdir(), 'on-site-'));
  const raw = (meters: string[]) => ({
    gateway: { id: 'gw-1', dataDir: path.join(dir, 'var') },
    keys: {
      supplierPublic: 's.json',
      gatewayPrivate: 'g.pem',
      mdmsPublic: 'm.pem',
      enrolmentCodes: path.join(dir, 'codes.json'),
    },
    upstream: { url: 'mqtt://127.0.0.1:1883' },
    drivers: { replay: { file: '/d.csv' } },
    neighbourhoods: [{ id: 'north' }],
    meters: meters.map((id, i) => ({
      id,
      neighbourhood: 'north',
      account: `A-${i}`,
      source: { driver: 'replay', household: `h${i}` },
    })),
  });
  const config = validateConfig(raw(ids));
  // The gateway ran: each meter was read once.
  const db = openDatabase(path.join(dir, 'var', 'buffer.sqlite'), { synchronous: 'NORMAL' });
  const store = new DeviceStore(db);
  for (const m of config.meters)
    store.bindSources(
      m,
      sourceKeys(config, m, (p) => p),
      1000,
    );
  db.close();
  for (const id of ids) storeEnrolmentCode(config.keys.enrolmentCodes!, id, KEY);
  return { config, raw };
}

describe('on-site steps', () => {
  it('--check and the doctor refuse a file that gives a bound source a new id, naming the re-home', () => {
    const { config, raw } = site();
    expect(() => checkBindings(config)).not.toThrow();
    expect(bindingIssuesReadOnly(config)).toEqual([]);
    const renamed = validateConfig(raw(['m1b', 'm2']));
    expectCode('DEVICE_BOUND_ELSEWHERE', () => checkBindings(renamed));
    expect(bindingIssuesReadOnly(renamed).map((i) => i.message)).toEqual([
      expect.stringContaining('rehome m1 --reason'),
    ]);
  });

  it('rehome releases the bindings, retires the id, deletes its code and lets the device be configured anew', () => {
    const { config, raw } = site();
    expectCode('CONFIG_INVALID', () => rehomeMeter(config, 'm1', '', 2000, silentLogger()));
    expectCode('CONFIG_INVALID', () => rehomeMeter(config, 'm9', 'no such meter', 2000, silentLogger()));
    expect(rehomeMeter(config, 'm1', 'meter replaced', 2000, silentLogger())).toBe(1);
    expect(meterIdState(config, 'm1')).toBe('retired');
    expect([...loadEnrolmentCodes(config.keys.enrolmentCodes!).keys()]).toEqual(['m2']);
    expect(() => checkBindings(validateConfig(raw(['m1b', 'm2'])))).not.toThrow();
    expectCode('METER_ID_RETIRED', () => checkBindings(config));
  });

  it('rehome deletes every unused code of its device: a code never follows the device to another id', () => {
    const { config } = site();
    const file = config.keys.enrolmentCodes!;
    const device = 'replay:/d.csv#h0';
    expect(boundIdentityReadOnly(config, 'm1')).toBe(device);
    expect(boundIdentityReadOnly(config, 'm9')).toBeUndefined();
    // m1's code issued on site for its device, and a stray code for another id naming the same device.
    storeEnrolmentCode(file, 'm1', KEY, device);
    storeEnrolmentCode(file, 'm1b', KEY, device);
    rehomeMeter(config, 'm1', 'meter moved to another flat', 2000, silentLogger());
    expect([...loadEnrolmentCodes(file).keys()]).toEqual(['m2']);
    expect(boundIdentityReadOnly(config, 'm1')).toBeUndefined();
  });
});
