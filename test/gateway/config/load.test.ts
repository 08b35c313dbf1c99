/**
 * The configuration validator: every error reported with its dotted path, all at once; YAML syntax errors with
 * their line; and the CLI's `--check` exit codes (0 valid, 2 invalid) as a technician sees them.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, validateConfig } from '../../../gateway/config/load.ts';
import type { ConfigIssue } from '../../../gateway/config/rules.ts';
import { isGatewayError } from '../../../gateway/errors.ts';

const GATEWAY_BIN = path.resolve(import.meta.dirname, '../../../scripts/gateway');

type Raw = Record<string, unknown> & {
  meters: Record<string, unknown>[];
  neighbourhoods: Record<string, unknown>[];
};

/** The smallest valid configuration: everything else has a default. Key files need not exist to validate. */
function minimal(): Raw {
  return {
    gateway: { id: 'gw-test-01' },
    keys: {
      supplierPublic: 'keys/supplier.paillier.pub.json',
      gatewayPrivate: 'keys/gateway.ed25519.key.pem',
      mdmsPublic: 'keys/mdms.ed25519.pub.pem',
    },
    upstream: { url: 'mqtt://localhost:1883' },
    drivers: { replay: { file: 'data/consumption.csv' } },
    neighbourhoods: [{ id: 'nb-a' }],
    meters: [meter('m1', 'nb-a')],
  };
}

function meter(id: string, neighbourhood: string): Record<string, unknown> {
  return { id, neighbourhood, account: `ACC-${id}`, source: { driver: 'replay', household: '10006414' } };
}

/** A fresh minimal config changed by `edit`. */
function variant(edit: (c: Raw) => void): Raw {
  const c = structuredClone(minimal());
  edit(c);
  return c;
}

function issuesOf(raw: unknown): ConfigIssue[] {
  try {
    validateConfig(raw, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(isGatewayError(error, 'CONFIG_INVALID')).toBe(true);
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

function paths(raw: unknown): string[] {
  return issuesOf(raw).map((i) => i.path);
}

describe('validateConfig', () => {
  it('accepts the minimal config, fills in the defaults and freezes the result deeply', () => {
    const config = validateConfig(minimal());
    expect(config.privacy).toEqual({
      k: 5,
      kFloor: 5,
      noise: { epsilonPerDay: 100, deltaPerDay: 1e-6, epsilonCeiling: 100, deltaCeiling: 1e-6, clipWh: 1000 },
    });
    expect(config.intervals).toEqual({ minutes: 15, graceMinutes: 5 });
    expect(config.gateway.timezone).toBe('UTC');
    expect(config.billing.period).toBe('monthly');
    expect(config.billing.bands).toEqual([{ name: 'all', windows: ['00:00-24:00'] }]);
    expect(config.clock).toEqual({ mode: 'system' });
    expect(config.upstream.schedule).toBe('*/15 * * * *');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.meters[0]!.source)).toBe(true);
    expect(Object.isFrozen(config.billing.bands[0]!.windows)).toBe(true);
    expect(() => {
      (config.privacy as { k: number }).k = 2;
    }).toThrow(TypeError);
  });

  it('accepts tariff bands that wrap past midnight and cover the day exactly once', () => {
    const config = validateConfig(
      variant((c) => {
        c.intervals = { minutes: 30 };
        c.billing = {
          bands: [
            { name: 'peak', windows: ['07:00-23:00'] },
            { name: 'offpeak', windows: ['23:00-07:00'] },
          ],
        };
      }),
    );
    expect(config.billing.bands.map((b) => b.name)).toEqual(['peak', 'offpeak']);
  });

  it('accepts cost-only bills with a price of up to 6 decimals for every band; bands is the default', () => {
    expect(validateConfig(minimal()).billing.reveal).toBe('bands');
    const config = validateConfig(
      variant((c) => {
        c.billing = {
          reveal: 'cost-only',
          bands: [
            { name: 'day', windows: ['00:00-12:00'], price: 0.123456 },
            { name: 'night', windows: ['12:00-24:00'], price: 0 },
          ],
        };
      }),
    );
    expect(config.billing.reveal).toBe('cost-only');
    expect(config.billing.bands.map((b) => b.price)).toEqual([0.123456, 0]);
    const issues = issuesOf(
      variant(
        (c) => (c.billing = { reveal: 'cost-only', bands: [{ name: 'all', windows: ['00:00-24:00'] }] }),
      ),
    );
    expect(issues).toEqual([
      {
        path: 'billing.bands.0.price',
        message: 'is required with billing.reveal cost-only (band "all" has no price)',
      },
    ]);
  });

  it('does not modify the object it is given', () => {
    const raw = minimal();
    const copy = structuredClone(raw);
    validateConfig(raw);
    expect(raw).toEqual(copy);
  });

  const cases: [string, (c: Raw) => void, string][] = [
    ['k below kFloor', (c) => (c.privacy = { kFloor: 5, k: 4 }), 'privacy.k'],
    [
      'ε above its local ceiling',
      (c) => (c.privacy = { noise: { epsilonCeiling: 10, epsilonPerDay: 11 } }),
      'privacy.noise.epsilonPerDay',
    ],
    [
      'δ above its local ceiling',
      (c) => (c.privacy = { noise: { deltaCeiling: 1e-7, deltaPerDay: 1e-6 } }),
      'privacy.noise.deltaPerDay',
    ],
    ['k below the absolute floor', (c) => (c.privacy = { kFloor: 2, k: 1 }), 'privacy.k'],
    ['kFloor below the absolute floor', (c) => (c.privacy = { kFloor: 1, k: 5 }), 'privacy.kFloor'],
    ['an interval that does not divide a day', (c) => (c.intervals = { minutes: 7 }), 'intervals.minutes'],
    ['a zero interval', (c) => (c.intervals = { minutes: 0 }), 'intervals.minutes'],
    [
      'a meter in an unknown neighbourhood',
      (c) => c.meters.push(meter('m2', 'nb-nowhere')),
      'meters.1.neighbourhood',
    ],
    ['a duplicate meter id', (c) => c.meters.push(meter('m1', 'nb-a')), 'meters.1.id'],
    ['a duplicate neighbourhood id', (c) => c.neighbourhoods.push({ id: 'nb-a' }), 'neighbourhoods.1.id'],
    ['a neighbourhood without meters', (c) => c.neighbourhoods.push({ id: 'nb-empty' }), 'neighbourhoods.1'],
    [
      'a bad cron schedule',
      (c) => (c.upstream = { ...(c.upstream as object), schedule: 'every 5 min' }),
      'upstream.schedule',
    ],
    ['an http:// upstream URL', (c) => (c.upstream = { url: 'http://broker:1883' }), 'upstream.url'],
    ['an upstream URL without a scheme', (c) => (c.upstream = { url: 'broker:1883' }), 'upstream.url'],
    [
      'both password and passwordFile',
      (c) => (c.upstream = { url: 'mqtt://b', password: 'x', passwordFile: 'p' }),
      'upstream.password',
    ],
    [
      'retryMaxSeconds below retryInitialSeconds',
      (c) => (c.upstream = { url: 'mqtt://b', retryInitialSeconds: 30, retryMaxSeconds: 10 }),
      'upstream.retryMaxSeconds',
    ],
    [
      'an invalid time zone',
      (c) => (c.gateway = { id: 'gw', timezone: 'Mars/Olympus_Mons' }),
      'gateway.timezone',
    ],
    ['an invalid gateway id', (c) => (c.gateway = { id: 'gw/with/slashes' }), 'gateway.id'],
    ['a missing keys section', (c) => delete c.keys, 'keys'],
    ['a missing meter source', (c) => delete c.meters[0]!.source, 'meters.0.source'],
    [
      'an unknown meter driver',
      (c) => (c.meters[0]!.source = { driver: 'zigbee' }),
      'meters.0.source.driver',
    ],
    ['a replay meter without drivers.replay', (c) => delete c.drivers, 'meters.0.source'],
    ['no meters at all', (c) => (c.meters = []), 'meters'],
    ['a negative grace period', (c) => (c.intervals = { graceMinutes: -1 }), 'intervals.graceMinutes'],
    ['an unknown billing period', (c) => (c.billing = { period: 'yearly' }), 'billing.period'],
    ['an unknown reveal mode', (c) => (c.billing = { reveal: 'everything' }), 'billing.reveal'],
    [
      'cost-only without a price for every band',
      (c) =>
        (c.billing = {
          reveal: 'cost-only',
          bands: [
            { name: 'day', windows: ['00:00-12:00'], price: 0.3 },
            { name: 'night', windows: ['12:00-24:00'] },
          ],
        }),
      'billing.bands.1.price',
    ],
    [
      'a price with more than 6 decimals',
      (c) => (c.billing = { bands: [{ name: 'all', windows: ['00:00-24:00'], price: 0.1234567 }] }),
      'billing.bands.0.price',
    ],
    [
      'a negative price',
      (c) => (c.billing = { bands: [{ name: 'all', windows: ['00:00-24:00'], price: -0.1 }] }),
      'billing.bands.0.price',
    ],
    [
      'a buffer limit below its minimum',
      (c) => (c.buffer = { maxOutboxRecords: 10 }),
      'buffer.maxOutboxRecords',
    ],
    [
      'a badly formed tariff window',
      (c) => (c.billing = { bands: [{ name: 'all', windows: ['7:00-23:00'] }] }),
      'billing.bands.0.windows.0',
    ],
    [
      'a tariff window off the interval grid',
      (c) => {
        c.intervals = { minutes: 30 };
        c.billing = {
          bands: [
            { name: 'peak', windows: ['07:15-23:00'] },
            { name: 'offpeak', windows: ['23:00-07:15'] },
          ],
        };
      },
      'billing.bands.0.windows.0',
    ],
    [
      'duplicate band names',
      (c) =>
        (c.billing = {
          bands: [
            { name: 'x', windows: ['00:00-12:00'] },
            { name: 'x', windows: ['12:00-24:00'] },
          ],
        }),
      'billing.bands.1.name',
    ],
    [
      'a neighbourhood larger than maxMetersPerNeighbourhood',
      (c) => {
        c.encryption = { maxMetersPerNeighbourhood: 1 };
        c.meters.push(meter('m2', 'nb-a'));
      },
      'neighbourhoods.0',
    ],
    [
      'a serial meter on a port that is not configured',
      (c) => (c.meters[0]!.source = { driver: 'serial', port: 'p9' }),
      'meters.0.source.port',
    ],
    [
      'two meters on one serial port',
      (c) => {
        c.drivers = { serial: { p1: { path: '/dev/ttyUSB0', protocol: 'dsmr' } } };
        c.meters = [meter('m1', 'nb-a'), meter('m2', 'nb-a')];
        c.meters.forEach((m) => (m.source = { driver: 'serial', port: 'p1' }));
      },
      'meters.1.source.port',
    ],
    [
      'an unknown DSMR version',
      (c) => (c.drivers = { serial: { p1: { path: '/dev/ttyUSB0', protocol: 'dsmr', dsmrVersion: '6' } } }),
      'drivers.serial.p1.dsmrVersion',
    ],
    [
      'a serial port without a protocol',
      (c) => (c.drivers = { serial: { p1: { path: '/dev/ttyUSB0' } } }),
      'drivers.serial.p1.protocol',
    ],
    [
      'two ports on one serial device',
      (c) =>
        (c.drivers = {
          serial: { a: { path: '/dev/ttyUSB0', protocol: 'dsmr' } },
          modbus: { buses: { b: { transport: 'rtu', path: '/dev/ttyUSB0' } } },
        }),
      'drivers.modbus.buses.b.path',
    ],
    [
      'an IEC 62056-21 address the sign-on cannot carry',
      (c) =>
        (c.drivers = {
          serial: { d0: { path: '/dev/ttyUSB0', protocol: 'iec62056-21', iec: { address: 'A-1' } } },
        }),
      'drivers.serial.d0.iec.address',
    ],
    [
      'an unknown Modbus model',
      (c) => {
        c.drivers = { modbus: { buses: { b: { transport: 'tcp', host: 'h' } } } };
        c.meters[0]!.source = { driver: 'modbus', bus: 'b', unit: 1, model: 'acme-9000' };
      },
      'meters.0.source.model',
    ],
    [
      'a Modbus unit id out of range',
      (c) => {
        c.drivers = { modbus: { buses: { b: { transport: 'tcp', host: 'h' } } } };
        c.meters[0]!.source = { driver: 'modbus', bus: 'b', unit: 300, model: 'eastron-sdm630' };
      },
      'meters.0.source.unit',
    ],
    [
      'an MQTT topic with a wildcard',
      (c) => {
        c.drivers = { mqtt: {} };
        c.meters[0]!.source = { driver: 'mqtt', topic: 'tele/+/SENSOR', format: 'tasmota' };
      },
      'meters.0.source.topic',
    ],
    [
      'an MQTT meter without drivers.mqtt',
      (c) => (c.meters[0]!.source = { driver: 'mqtt', topic: 'tele/x/SENSOR', format: 'generic' }),
      'meters.0.source',
    ],
  ];

  for (const [what, edit, expected] of cases) {
    it(`reports ${what} at ${expected}`, () => {
      expect(paths(variant(edit))).toContain(expected);
    });
  }

  it('reports overlapping tariff bands at the window that overlaps', () => {
    const issues = issuesOf(
      variant((c) => {
        c.billing = {
          bands: [
            { name: 'peak', windows: ['07:00-23:00'] },
            { name: 'offpeak', windows: ['22:00-07:00'] },
          ],
        };
      }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('billing.bands.1.windows.0');
    expect(issues[0]!.message).toMatch(/overlaps band "peak" at 22:00/);
  });

  it('reports tariff bands leaving a gap with the first uncovered minute', () => {
    const issues = issuesOf(
      variant((c) => {
        c.billing = {
          bands: [
            { name: 'peak', windows: ['07:00-23:00'] },
            { name: 'night', windows: ['00:00-07:00'] },
          ],
        };
      }),
    );
    expect(issues).toEqual([{ path: 'billing.bands', message: expect.stringContaining('23:00') as string }]);
  });

  it('reports an unknown key with its parent path and its name', () => {
    const nested = issuesOf(variant((c) => (c.gateway = { id: 'gw', colour: 'blue' })));
    expect(nested).toHaveLength(1);
    expect(nested[0]!.path).toBe('gateway');
    expect(nested[0]!.message).toContain('colour');

    const top = issuesOf(variant((c) => (c.privcy = { k: 2 })));
    expect(top.map((i) => i.path)).toEqual(['']);
    expect(top[0]!.message).toContain('privcy');
  });

  it('reports a missing required field as "is required"', () => {
    const issues = issuesOf(variant((c) => (c.upstream = {})));
    expect(issues).toContainEqual({ path: 'upstream.url', message: 'is required' });
  });

  it('reports several schema errors at once', () => {
    const found = paths(
      variant((c) => {
        c.gateway = { id: 'gw', timezone: 'Nowhere/Land' };
        c.intervals = { minutes: 7 };
        c.upstream = { url: 'ftp://x', schedule: '99 * * * *' };
        c.meters.push({ id: 'm2' });
      }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'gateway.timezone',
        'intervals.minutes',
        'upstream.url',
        'upstream.schedule',
        'meters.1.neighbourhood',
        'meters.1.account',
        'meters.1.source',
      ]),
    );
  });

  it('reports several cross-field errors at once', () => {
    const found = paths(
      variant((c) => {
        c.privacy = { kFloor: 6, k: 5 };
        c.meters.push(meter('m1', 'nb-a'), meter('m3', 'nb-gone'));
      }),
    );
    expect(found).toEqual(expect.arrayContaining(['privacy.k', 'meters.1.id', 'meters.2.neighbourhood']));
    expect(found).toHaveLength(3);
  });

  it('lists every issue with its path in the error message', () => {
    try {
      validateConfig(
        variant((c) => (c.intervals = { minutes: 7, graceMinutes: -3 })),
        'site.yaml',
      );
      expect.unreachable();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/^site\.yaml: 2 configuration error\(s\)/);
      expect(message).toContain('  - intervals.minutes: ');
      expect(message).toContain('  - intervals.graceMinutes: ');
    }
  });
});

describe('loadConfigFile', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'config-'));

  it('loads a YAML file and resolves relative paths against its directory', () => {
    const d = dir();
    const file = path.join(d, 'gateway.yaml');
    writeFileSync(file, stringify({ ...minimal(), gateway: { id: 'gw-1', dataDir: '../var' } }));
    const config = loadConfigFile(file);
    expect(config.keys.supplierPublic).toBe(path.join(d, 'keys/supplier.paillier.pub.json'));
    expect(config.keys.gatewayPrivate).toBe(path.join(d, 'keys/gateway.ed25519.key.pem'));
    expect(config.drivers.replay?.file).toBe(path.join(d, 'data/consumption.csv'));
    expect(config.gateway.dataDir).toBe(path.resolve(d, '../var'));
    expect(Object.isFrozen(config.keys)).toBe(true);
  });

  it('loads a Modbus register map file given as a relative path, and reports a broken one at the meter', () => {
    const d = dir();
    const file = path.join(d, 'gateway.yaml');
    const c = minimal();
    c.drivers = { modbus: { buses: { b: { transport: 'tcp', host: '127.0.0.1' } } } };
    c.meters[0]!.source = { driver: 'modbus', bus: 'b', unit: 1, model: 'maps/acme.yaml' };
    writeFileSync(file, stringify(c));
    mkdirSync(path.join(d, 'maps'));
    const map = {
      model: 'acme',
      name: 'ACME 9000',
      functionCode: 4,
      registers: [{ name: 'Import', obis: '1-0:1.8.0', address: 0, type: 'float32', unit: 'kWh' }],
    };
    writeFileSync(path.join(d, 'maps/acme.yaml'), stringify(map));
    const source = loadConfigFile(file).meters[0]!.source;
    expect(source.driver === 'modbus' && source.model).toBe(path.join(d, 'maps/acme.yaml'));

    writeFileSync(
      path.join(d, 'maps/acme.yaml'),
      stringify({ ...map, registers: [{ name: 'Import', obis: '1-0:1.8.0', address: 0, type: 'float128' }] }),
    );
    try {
      loadConfigFile(file);
      throw new Error('accepted a broken map');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const issue = (error as ConfigError).issues[0]!;
      expect(issue.path).toBe('meters.0.source.model');
      expect(issue.message).toMatch(/REGISTER_MAP_INVALID.*registers\.0\.type/s);
    }
  });

  it('keeps absolute paths as they are', () => {
    const file = path.join(dir(), 'gateway.yaml');
    const c = minimal();
    c.keys = { supplierPublic: '/etc/k/s.json', gatewayPrivate: '/etc/k/g.pem', mdmsPublic: '/etc/k/m.pem' };
    writeFileSync(file, stringify(c));
    expect(loadConfigFile(file).keys.supplierPublic).toBe('/etc/k/s.json');
  });

  it('reports a YAML syntax error with its line', () => {
    const file = path.join(dir(), 'broken.yaml');
    writeFileSync(file, 'gateway:\n  id: gw-1\ngateway:\n  id: gw-2\n');
    let caught: unknown;
    try {
      loadConfigFile(file);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues;
    expect(issues.map((i) => i.path)).toEqual(['line 3']);
    expect((caught as ConfigError).message).toContain(file);
  });

  it('reports the schema errors of a file, named after the file', () => {
    const file = path.join(dir(), 'gateway.yaml');
    writeFileSync(file, stringify(variant((c) => (c.intervals = { minutes: 7 }))));
    expect(() => loadConfigFile(file)).toThrow(
      /gateway\.yaml: 1 configuration error.*\n.*intervals\.minutes/,
    );
  });

  it('refuses a file that cannot be read (CONFIG_UNREADABLE)', () => {
    let caught: unknown;
    try {
      loadConfigFile(path.join(dir(), 'missing.yaml'));
    } catch (error) {
      caught = error;
    }
    expect(isGatewayError(caught, 'CONFIG_UNREADABLE')).toBe(true);
  });
});

describe('scripts/gateway --check', () => {
  const run = promisify(execFile);

  async function check(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(GATEWAY_BIN, ['--config', file, '--check'], { timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout: string; stderr: string };
      return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('exits 2 on an invalid file and names every bad path on stderr', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'config-cli-')), 'bad.yaml');
    writeFileSync(
      file,
      stringify(
        variant((c) => {
          c.intervals = { minutes: 7 };
          c.upstream = { url: 'http://broker' };
          c.gateway = { id: 'gw', timezone: 'Nowhere/Land' };
        }),
      ),
    );
    const { code, stdout, stderr } = await check(file);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    for (const p of ['intervals.minutes', 'upstream.url', 'gateway.timezone']) expect(stderr).toContain(p);
    expect(stderr).toContain('3 configuration error(s)');
  });

  it('exits 0 on a valid file and says so', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'config-cli-')), 'good.yaml');
    writeFileSync(file, stringify(variant((c) => c.meters.push(meter('m2', 'nb-a')))));
    const { code, stdout, stderr } = await check(file);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('valid (2 meters, 1 neighbourhoods)');
  });
});
