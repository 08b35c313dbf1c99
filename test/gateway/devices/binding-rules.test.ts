/**
 * The membership checks (issue #14 "Why" 1 and 2) on real configurations and a real device store: a bound source
 * under a new id (directly, through an alias path, through a second bus name), a bound meter moved, a retired id
 * reused, and, remotely, a meter taken out of a neighbourhood that stays or a "new" meter that is not new.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_IN_MAPS_DIR } from '../../../drivers/modbus/register-map.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import type { Config } from '../../../gateway/config/schema.ts';
import { bindingIssues, remoteMembershipIssues } from '../../../gateway/devices/binding-rules.ts';
import { sourceKeys } from '../../../gateway/devices/source-keys.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { floorViolations } from '../../../gateway/remote/privacy-floor.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call --
   the edits below change raw configuration documents, as an operator's YAML would, before validation types them */
type Raw = Record<string, any>;

/** /dev/ttyUSB0 is where the by-id name leads (as udev links it). */
const LINKS: Record<string, string> = { '/dev/serial/by-id/usb-FTDI_A': '/dev/ttyUSB0' };
const realpath = (p: string) => LINKS[p] ?? p;

const meter = (id: string, nb: string, source: Raw = { driver: 'replay', household: id }) => ({
  id,
  neighbourhood: nb,
  account: `ACC-${id}`,
  source,
});

function base(): Raw {
  return {
    gateway: { id: 'gw-1' },
    keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem', operatorPublic: 'o.pem' },
    upstream: { url: 'mqtt://127.0.0.1:1883' },
    privacy: { kFloor: 5, k: 5 },
    drivers: {
      replay: { file: '/data/c.csv' },
      serial: { p1: { path: '/dev/serial/by-id/usb-FTDI_A', protocol: 'dsmr' } },
      modbus: { buses: { tcp1: { transport: 'tcp', host: '10.0.0.5', port: 502 } } },
    },
    neighbourhoods: [{ id: 'north' }],
    meters: [
      meter('m01', 'north', { driver: 'serial', port: 'p1' }),
      meter('m02', 'north', { driver: 'modbus', bus: 'tcp1', unit: 1, model: 'eastron-sdm630' }),
      ...['m03', 'm04', 'm05'].map((id) => meter(id, 'north')),
    ],
  };
}

let buffer: BufferStore | undefined;
afterEach(() => buffer?.close());

/** A device store in which every meter of `config` has sent a reading. */
function boundTo(config: Readonly<Config>) {
  buffer = openTestBuffer(35n ** 2n, new Metrics());
  for (const m of config.meters) buffer.devices.bindSources(m, sourceKeys(config, m, realpath), 1000);
  return buffer.devices;
}

const codes = (issues: { code?: string; path: string }[]) => issues.map((i) => `${i.code} ${i.path}`);

describe('source keys', () => {
  it('name the device, not the name given to it: by-id path and real path, the endpoint behind a bus name', () => {
    const raw = base();
    raw.drivers.modbus.buses.alias = { transport: 'tcp', host: '10.0.0.5', port: 502 };
    const c = validateConfig(raw);
    expect(sourceKeys(c, c.meters[0]!, realpath)).toEqual([
      'serial:/dev/serial/by-id/usb-FTDI_A',
      'serial:/dev/ttyUSB0',
    ]);
    const viaAlias = {
      ...c.meters[1]!,
      source: { ...c.meters[1]!.source, bus: 'alias' },
    } as Config['meters'][number];
    expect(sourceKeys(c, viaAlias, realpath)).toEqual(sourceKeys(c, c.meters[1]!, realpath));
    expect(sourceKeys(c, c.meters[2]!, realpath)).toEqual(['replay:/data/c.csv#m03']);
  });
});

describe('binding checks (local start, --check, remote)', () => {
  it('pass an unchanged configuration and a meter returning to its own source', () => {
    const c = validateConfig(base());
    expect(bindingIssues(c, boundTo(c), realpath)).toEqual([]);
  });

  it('refuse a bound source under another id, through the alias path too, naming the on-site re-home', () => {
    const running = validateConfig(base());
    const known = boundTo(running);
    const raw = base();
    raw.drivers.serial.p1.path = '/dev/ttyUSB0'; // the same adapter by its kernel name
    raw.meters[0].id = 'm99';
    const issues = bindingIssues(validateConfig(raw), known, realpath);
    expect(codes(issues)).toEqual(['DEVICE_BOUND_ELSEWHERE meters.m99.source']);
    expect(issues[0]!.message).toContain('rehome m01 --reason');
  });

  it('refuse a bound meter moved to another neighbourhood and a retired meter or neighbourhood id', () => {
    const running = validateConfig(base());
    const known = boundTo(running);
    const moved = base();
    moved.neighbourhoods.push({ id: 'south' });
    moved.meters[2].neighbourhood = 'south';
    expect(codes(bindingIssues(validateConfig(moved), known, realpath))).toContain(
      'METER_MOVED meters.m03.neighbourhood',
    );
    buffer!.devices.retire([{ id: 'm04', neighbourhood: 'north' }], ['west'], 2000);
    const reused = base();
    reused.neighbourhoods.push({ id: 'west' });
    reused.meters.push(meter('m06', 'west'));
    expect(codes(bindingIssues(validateConfig(reused), known, realpath))).toEqual([
      'NEIGHBOURHOOD_ID_RETIRED neighbourhoods.west',
      'METER_ID_RETIRED meters.m04',
    ]);
  });

  it('refuse two meters of one configuration on one device (a second port on the same adapter)', () => {
    const raw = base();
    raw.drivers.serial.p2 = { path: '/dev/ttyUSB0', protocol: 'dsmr' };
    raw.meters.push(meter('m06', 'north', { driver: 'serial', port: 'p2' }));
    buffer = openTestBuffer(35n ** 2n, new Metrics());
    const issues = bindingIssues(validateConfig(raw), buffer.devices, realpath);
    expect(codes(issues)).toEqual(['DEVICE_BOUND_ELSEWHERE meters.m06.source']);
  });
});

describe('remote membership rules', () => {
  /** Issue #14 "Why" 1: m01 out of its neighbourhood, its source under a new id among four known meters. */
  function paddingAttack(raw: Raw): void {
    raw.meters = raw.meters.filter((m: Raw) => m.id !== 'm01');
    raw.neighbourhoods.push({ id: 'pad' });
    raw.drivers.serial.p1b = { path: '/dev/ttyUSB0', protocol: 'dsmr' };
    delete raw.drivers.serial.p1;
    raw.meters.push(meter('victim', 'pad', { driver: 'serial', port: 'p1b' }));
    for (const id of ['k1', 'k2', 'k3', 'k4']) raw.meters.push(meter(id, 'pad'));
  }

  it('refuse padding a household with known meters, through the floor check the command handler runs', () => {
    const running = validateConfig(base());
    const known = boundTo(running);
    const raw = base();
    paddingAttack(raw);
    const issues = floorViolations(running, validateConfig(raw), { known, realpath });
    expect(codes(issues)).toEqual(
      expect.arrayContaining([
        'MEMBERSHIP_STEERED meters.m01',
        'DEVICE_NOT_NEW meters.victim.source',
        'DEVICE_BOUND_ELSEWHERE meters.victim.source',
      ]),
    );
  });

  it('refuse a source of a running meter that has not sent a reading yet, and a re-added removed id', () => {
    const running = validateConfig(base());
    buffer = openTestBuffer(35n ** 2n, new Metrics());
    const raw = base();
    raw.neighbourhoods.push({ id: 'pad' });
    raw.drivers.serial.p2 = { path: '/dev/ttyUSB0', protocol: 'dsmr' };
    raw.meters.push(meter('twin', 'pad', { driver: 'serial', port: 'p2' }));
    expect(codes(remoteMembershipIssues(running, validateConfig(raw), buffer.devices, realpath))).toContain(
      'DEVICE_NOT_NEW meters.twin.source',
    );
    buffer.devices.retire([{ id: 'gone', neighbourhood: 'old' }], ['old'], 1000);
    const again = base();
    again.neighbourhoods.push({ id: 'old' });
    again.meters.push(...['gone', 'n2', 'n3', 'n4', 'n5'].map((id) => meter(id, 'old')));
    expect(codes(remoteMembershipIssues(running, validateConfig(again), buffer.devices, realpath))).toEqual(
      expect.arrayContaining(['NEIGHBOURHOOD_ID_RETIRED neighbourhoods.old', 'METER_ID_RETIRED meters.gone']),
    );
  });

  it('admit a Modbus meter added remotely whose model reports a serial, on any spelling of an endpoint; its serial is checked at its first identification', () => {
    const running = validateConfig(base());
    const known = boundTo(running);
    // m02's meter (10.0.0.5, unit 1) has reported its serial.
    const m02 = running.meters.find((m) => m.id === 'm02')!;
    known.identify(m02, 'modbus-serial:eastron:20207224', 1000);
    const raw = base();
    raw.neighbourhoods.push({ id: 'spy' });
    // 10.0.0.5 spelt as an IPv4-mapped IPv6 address and as one number, and another unit id on the household's own
    // bus. The one number is not an IP literal: the floor refuses it (remote/modbus-hosts.ts); the membership
    // rules alone admit it, and the serial check stands behind both.
    raw.drivers.modbus.buses.a1 = { transport: 'tcp', host: '::ffff:10.0.0.5', port: 502 };
    raw.drivers.modbus.buses.a2 = { transport: 'tcp', host: '167772165', port: 502 };
    raw.meters.push(meter('x1', 'spy', { driver: 'modbus', bus: 'a1', unit: 1, model: 'eastron-sdm630' }));
    raw.meters.push(meter('x2', 'spy', { driver: 'modbus', bus: 'a2', unit: 1, model: 'eastron-sdm120' }));
    raw.meters.push(
      meter('x3', 'spy', { driver: 'modbus', bus: 'tcp1', unit: 7, model: 'carlo-gavazzi-em24' }),
    );
    for (const id of ['k1', 'k2']) raw.meters.push(meter(id, 'spy'));
    const next = validateConfig(raw);
    expect(codes(floorViolations(running, next, { known, realpath }))).toEqual([
      'MODBUS_HOST_NOT_LITERAL drivers.modbus.buses.a2.host',
      'MODBUS_HOST_NOT_LITERAL meters.x2.source',
    ]);
    expect(codes(remoteMembershipIssues(running, next, known, realpath))).toEqual([]);
    // Each spelling leads to m02's meter, which reports its serial there: refused at its first identification.
    for (const id of ['x1', 'x2']) {
      const x = next.meters.find((m) => m.id === id)!;
      expect(() => known.identify(x, 'modbus-serial:eastron:20207224', 2000)).toThrow(
        expect.objectContaining({ code: 'DEVICE_BOUND_ELSEWHERE' }),
      );
    }
    expect(known.binding('modbus-serial:eastron:20207224')?.meterId).toBe('m02');
  });

  it('refuse a Modbus meter added remotely whose map is a file: it could name any register as the serial', () => {
    const running = validateConfig(base());
    const known = boundTo(running);
    const dir = mkdtempSync(path.join(tmpdir(), 'binding-rules-'));
    const builtIn = readFileSync(path.join(BUILT_IN_MAPS_DIR, 'eastron-sdm630.yaml'), 'utf8');
    const withSerial = path.join(dir, 'with-serial.yaml');
    const without = path.join(dir, 'without.yaml');
    writeFileSync(withSerial, builtIn.replace('model: eastron-sdm630', 'model: my-sdm630'));
    writeFileSync(
      without,
      builtIn.replace(/^identity:.*$/m, '').replace('model: eastron-sdm630', 'model: old'),
    );
    const raw = base();
    raw.neighbourhoods.push({ id: 'spy' });
    raw.drivers.modbus.buses.a1 = { transport: 'tcp', host: '::ffff:10.0.0.5', port: 502 };
    raw.meters.push(meter('x1', 'spy', { driver: 'modbus', bus: 'a1', unit: 1, model: withSerial }));
    raw.meters.push(meter('x2', 'spy', { driver: 'modbus', bus: 'a1', unit: 2, model: without }));
    for (const id of ['k1', 'k2']) raw.meters.push(meter(id, 'spy'));
    // The floor refuses the file itself too (a command names no file); the rule holds without that check.
    expect(codes(floorViolations(running, validateConfig(raw), { known, realpath }))).toEqual([
      'undefined meters.x1.source.model',
      'undefined meters.x2.source.model',
      'DEVICE_UNVERIFIABLE meters.x1.source',
      'DEVICE_UNVERIFIABLE meters.x2.source',
    ]);
    expect(codes(remoteMembershipIssues(running, validateConfig(raw), known, realpath))).toEqual([
      'DEVICE_UNVERIFIABLE meters.x1.source',
      'DEVICE_UNVERIFIABLE meters.x2.source',
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('let through a whole neighbourhood removed, and a new one of devices never seen', () => {
    const raw = base();
    raw.neighbourhoods.push({ id: 'south' });
    raw.meters.push(...['s1', 's2', 's3', 's4', 's5'].map((id) => meter(id, 'south')));
    const running = validateConfig(raw);
    const known = boundTo(running);
    const next = structuredClone(raw);
    next.neighbourhoods = next.neighbourhoods.filter((n: Raw) => n.id !== 'south');
    next.meters = next.meters.filter((m: Raw) => m.neighbourhood !== 'south');
    next.neighbourhoods.push({ id: 'east' });
    next.meters.push(...['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => meter(id, 'east')));
    expect(remoteMembershipIssues(running, validateConfig(next), known, realpath)).toEqual([]);
  });
});
