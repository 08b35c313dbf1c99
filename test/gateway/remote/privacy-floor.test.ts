/**
 * What a remote command may and may not change, against the attacks a security review found: sending a key file
 * as a broker password, moving a household into a neighbourhood of meters the operator controls, re-routing or
 * re-billing an enrolled meter, joining sybil meters to an existing neighbourhood, naming files, and every
 * setting that only someone on site may change, a Modbus TCP host given by name. Each refusal names its path;
 * the everyday changes pass.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import { floorViolations } from '../../../gateway/remote/privacy-floor.ts';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   the edits below change raw configuration documents, as an operator's YAML would, before validation types them */
type Raw = Record<string, any>;

const meter = (id: string, neighbourhood: string, source: Raw = { driver: 'replay', household: id }) => ({
  id,
  neighbourhood,
  account: `ACC-${id}`,
  source,
});

function base(): Raw {
  return {
    gateway: { id: 'gw-1' },
    keys: {
      supplierPublic: 'k/s.json',
      gatewayPrivate: 'k/g.pem',
      mdmsPublic: 'k/m.pem',
      operatorPublic: 'k/o.pem',
    },
    upstream: {
      url: 'mqtts://broker.example.net:8883',
      tls: { ca: 'k/ca.pem' },
      passwordFile: 'k/broker.pw',
      username: 'gw-1',
    },
    privacy: { kFloor: 5, k: 5 },
    drivers: {
      replay: { file: 'data/c.csv' },
      modbus: { buses: { tcp1: { transport: 'tcp', host: '10.0.0.5', port: 502 } } },
    },
    neighbourhoods: [{ id: 'north' }],
    meters: [
      meter('victim', 'north', { driver: 'modbus', bus: 'tcp1', unit: 1, model: 'eastron-sdm630' }),
      ...['a', 'b', 'c', 'd'].map((id) => meter(id, 'north')),
    ],
  };
}

function violations(edit: (c: Raw) => void): string[] {
  const running = validateConfig(base());
  const next = structuredClone(base());
  edit(next);
  return floorViolations(running, validateConfig(next)).map((i) => i.path);
}

describe('remote configuration scope', () => {
  it('lets through the everyday changes: a new neighbourhood with its meters, removals, k, logs, schedule, a new port', () => {
    expect(
      violations((c) => {
        c.neighbourhoods.push({ id: 'east' });
        c.meters.push(...['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => meter(id, 'east')));
        c.meters = c.meters.filter((m: Raw) => m.id !== 'd');
        c.privacy.k = 6;
        c.gateway.logLevel = 'debug';
        c.upstream.schedule = '*/10 * * * *';
        c.drivers.serial = { p1: { path: '/dev/ttyUSB0', protocol: 'dsmr' } };
      }),
    ).toEqual([]);
  });

  it('never sends a key file as a password, nor moves the upstream connection', () => {
    expect(violations((c) => (c.upstream.passwordFile = 'k/g.pem'))).toEqual(['upstream.passwordFile']);
    expect(violations((c) => (c.upstream.url = 'mqtt://attacker.example:1883'))).toEqual(['upstream.url']);
    expect(violations((c) => (c.upstream.tls.rejectUnauthorized = false))).toEqual([
      'upstream.tls.rejectUnauthorized',
    ]);
  });

  it('never moves, re-routes or re-bills an existing meter, nor joins a new meter to an existing neighbourhood', () => {
    // The victim alone with meters the operator controls:
    expect(
      violations((c) => {
        c.neighbourhoods.push({ id: 'trap' });
        c.meters[0].neighbourhood = 'trap';
        c.meters.push(...['s1', 's2', 's3', 's4'].map((id) => meter(id, 'trap')));
      }),
    ).toEqual(['meters.victim']);
    // Sybil meters in the victim's neighbourhood:
    expect(violations((c) => c.meters.push(meter('s1', 'north')))).toEqual(['meters.s1']);
    // Another device read as the enrolled meter, or its bill split per reading:
    expect(violations((c) => (c.meters[0].source.unit = 2))).toEqual(['meters.victim']);
    expect(violations((c) => (c.meters[0].account = 'ACC-solo'))).toEqual(['meters.victim']);
    // The victim's bus pointed elsewhere:
    expect(violations((c) => (c.drivers.modbus.buses.tcp1.host = '10.6.6.6'))).toEqual([
      'drivers.modbus.buses.tcp1',
    ]);
  });

  it('refuses one device read as several meters, locally too (the configuration rules)', () => {
    const c = base();
    c.drivers.modbus.buses.tcp2 = { transport: 'tcp', host: '10.0.0.5', port: 502 };
    c.neighbourhoods.push({ id: 'trap' });
    c.meters.push(
      meter('copy', 'north', { driver: 'modbus', bus: 'tcp2', unit: 1, model: 'eastron-sdm630' }),
    );
    expect(() => validateConfig(c)).toThrow(/unit 1 at 10\.0\.0\.5:502 is already meter "victim"/);
  });

  it('names Modbus TCP hosts by IP literal only: a name may resolve to a household meter at a reconnect', () => {
    const refused = (edit: (c: Raw) => void) => {
      const next = structuredClone(base());
      edit(next);
      return floorViolations(validateConfig(base()), validateConfig(next)).map((i) => [i.path, i.code]);
    };
    const twinOn = (c: Raw, bus: string) => {
      c.neighbourhoods.push({ id: 'trap' });
      c.meters.push(meter('twin', 'trap', { driver: 'modbus', bus, unit: 1, model: 'eastron-sdm630' }));
    };
    // The reviewer's step: a new bus naming a host, and a meter on it.
    expect(
      refused((c) => {
        c.drivers.modbus.buses.tcp2 = { transport: 'tcp', host: 't1.attacker.example', port: 502 };
        twinOn(c, 'tcp2');
      }),
    ).toEqual([
      ['drivers.modbus.buses.tcp2.host', 'MODBUS_HOST_NOT_LITERAL'],
      ['meters.twin.source', 'MODBUS_HOST_NOT_LITERAL'],
    ]);
    // Spellings of an address that are not literals the way Node reads them (leading zeros, one number).
    for (const host of ['0177.0.0.1', '2130706433', 'localhost']) {
      expect(refused((c) => (c.drivers.modbus.buses.tcp2 = { transport: 'tcp', host, port: 502 }))).toEqual([
        ['drivers.modbus.buses.tcp2.host', 'MODBUS_HOST_NOT_LITERAL'],
      ]);
    }
    // A meter added on a bus the local file names by host name.
    const local = base();
    local.drivers.modbus.buses.site = { transport: 'tcp', host: 'meters.site.lan', port: 502 };
    const next = structuredClone(local);
    twinOn(next, 'site');
    expect(floorViolations(validateConfig(local), validateConfig(next)).map((i) => [i.path, i.code])).toEqual(
      [['meters.twin.source', 'MODBUS_HOST_NOT_LITERAL']],
    );
    // The local bus itself stays (names are for the local file); IPv4 and IPv6 literals pass.
    expect(refused((c) => (c.drivers.modbus.buses.tcp2 = { transport: 'tcp', host: '10.0.0.9' }))).toEqual(
      [],
    );
    expect(
      refused((c) => {
        c.drivers.modbus.buses.tcp3 = { transport: 'tcp', host: 'fd00::17', port: 502 };
        twinOn(c, 'tcp3');
      }),
    ).toEqual([]);
  });

  it('never lets a command name a file', () => {
    expect(
      violations((c) => {
        c.drivers.serial = { p1: { path: '/dev/ttyUSB0', protocol: 'dsmr', decryptionKeyFile: 'k/g.pem' } };
        c.drivers.mqtt = { url: 'mqtt://127.0.0.1:1883', passwordFile: 'k/g.pem' };
        c.neighbourhoods.push({ id: 'east' });
        c.meters.push(
          meter('e1', 'east', {
            driver: 'modbus',
            bus: 'tcp1',
            unit: 7,
            model: '/etc/meterspace/keys/x.yaml',
          }),
        );
      }).sort(),
    ).toEqual(
      ['drivers.mqtt.passwordFile', 'drivers.serial.p1.decryptionKeyFile', 'meters.e1.source.model'].sort(),
    );
  });

  it('keeps to the local file: the floor, keys, clock, files, intervals, billing, encryption, households', () => {
    const refused = (edit: (c: Raw) => void) => violations(edit)[0];
    expect(refused((c) => (c.privacy.kFloor = 2))).toBe('privacy.kFloor');
    // The noise: the ceilings and the clip are local; ε and δ may move, never above the ceilings (the rules).
    expect(refused((c) => (c.privacy.noise = { epsilonCeiling: 1000, epsilonPerDay: 1000 }))).toBe(
      'privacy.noise.epsilonCeiling',
    );
    expect(refused((c) => (c.privacy.noise = { deltaCeiling: 1e-3 }))).toBe('privacy.noise.deltaCeiling');
    expect(refused((c) => (c.privacy.noise = { clipWh: 50_000 }))).toBe('privacy.noise.clipWh');
    expect(violations((c) => (c.privacy.noise = { epsilonPerDay: 20, deltaPerDay: 1e-9 }))).toEqual([]);
    expect(refused((c) => (c.keys.operatorPublic = 'k/other.pem'))).toBe('keys.operatorPublic');
    expect(refused((c) => (c.clock = { mode: 'virtual', start: '2020-01-01T00:00:00Z', speed: 1 }))).toMatch(
      /^clock/,
    );
    expect(refused((c) => (c.gateway.dataDir = '/tmp/elsewhere'))).toBe('gateway.dataDir');
    expect(refused((c) => (c.gateway.logFile = 'k/g.pem'))).toBe('gateway.logFile');
    expect(refused((c) => (c.intervals = { minutes: 5 }))).toBe('intervals.minutes');
    expect(refused((c) => (c.billing = { period: 'daily' }))).toBe('billing.period');
    expect(refused((c) => (c.gateway.timezone = 'Asia/Tokyo'))).toBe('gateway.timezone');
    expect(refused((c) => (c.encryption = { maxWhPerReading: 90_000 }))).toBe('encryption.maxWhPerReading');
    expect(refused((c) => (c.customers = { historyDays: 1 }))).toBe('customers.historyDays');
    expect(refused((c) => (c.observe = { metrics: { listen: '0.0.0.0:9464' } }))).toMatch(
      /^observe\.metrics/,
    );
  });
});
