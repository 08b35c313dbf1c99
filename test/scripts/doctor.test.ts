/**
 * `scripts/gateway --doctor` as a technician runs it, against real peers: a real Mosquitto broker, a serial port
 * that is a real pty pair, real key files and a real SQLite buffer. A healthy installation gives no FAIL and exit
 * 0; each broken part gives its FAIL line, what to do, and exit 1.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { openDatabase } from '../../gateway/buffer/database.ts';
import { MIGRATIONS } from '../../gateway/buffer/migrations.ts';
import { openPtyPair, type PtyPair } from '../../scripts/lib/pty-pair.ts';
import { checkClock } from '../../scripts/lib/doctor/clock-check.ts';
import { makeKeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_BIN } from '../helpers/scenario.ts';

/** The parts of the configuration file the cases change. */
interface TestConfig {
  drivers: { serial: { p1: { path: string; protocol: string } } };
  privacy?: { k: number; kFloor: number };
  [section: string]: unknown;
}

interface Installation {
  dir: string;
  configFile: string;
  keyDir: string;
  dataDir: string;
}

describe('gateway --doctor', () => {
  let broker: Mosquitto;
  let pty: PtyPair;
  let keyFiles: {
    supplierPublic: string;
    gatewayPrivate: string;
    mdmsPublic: string;
    supplierPrivate: string;
  };

  beforeAll(async () => {
    const ptyDir = mkdtempSync(path.join(tmpdir(), 'doctor-pty-'));
    const [b, p, keys] = await Promise.all([
      startMosquitto(),
      openPtyPair(path.join(ptyDir, 'meter'), path.join(ptyDir, 'gateway')),
      makeKeySet(),
    ]);
    broker = b;
    pty = p;
    keyFiles = keys.files;
  }, 60_000);
  afterAll(async () => {
    await pty?.close();
    await broker?.stop();
  });

  /** A gateway's files as scripts/install lays them out: keys (only the three a gateway holds), data, config. */
  function install(edit: (config: TestConfig) => void = () => undefined): Installation {
    const dir = mkdtempSync(path.join(tmpdir(), 'doctor-'));
    const keyDir = path.join(dir, 'keys');
    mkdirSync(keyDir, { mode: 0o700 });
    for (const name of ['supplierPublic', 'gatewayPrivate', 'mdmsPublic'] as const) {
      copyFileSync(keyFiles[name], path.join(keyDir, path.basename(keyFiles[name])));
    }
    chmodSync(path.join(keyDir, 'gateway.ed25519.key.pem'), 0o600);
    const dataDir = path.join(dir, 'var');
    const config: TestConfig = {
      gateway: { id: 'gw-doctor', dataDir },
      keys: {
        supplierPublic: path.join(keyDir, 'supplier.paillier.pub.json'),
        gatewayPrivate: path.join(keyDir, 'gateway.ed25519.key.pem'),
        mdmsPublic: path.join(keyDir, 'mdms.ed25519.pub.pem'),
      },
      upstream: { url: broker.url },
      drivers: { serial: { p1: { path: pty.gatewayEnd, protocol: 'dsmr' } } },
      neighbourhoods: [{ id: 'nb-01' }],
      meters: [
        {
          id: 'p1-meter',
          neighbourhood: 'nb-01',
          account: 'ACC-1',
          source: { driver: 'serial', port: 'p1' },
        },
      ],
    };
    edit(config);
    const configFile = path.join(dir, 'gateway.yaml');
    writeFileSync(configFile, stringify(config));
    return { dir, configFile, keyDir, dataDir };
  }

  const doctor = (i: Installation, args = ['--doctor']) =>
    runCli(GATEWAY_BIN, [...args, '--config', i.configFile]);
  const statusLines = (out: string, status: string, check: string) =>
    out.split('\n').filter((l) => l.startsWith(`${status.padEnd(4)}  ${check.padEnd(7)} `));
  /** The "-> what to do" line under the first line matching `pattern`. */
  const fixUnder = (out: string, pattern: RegExp) => {
    const lines = out.split('\n');
    const at = lines.findIndex((l) => pattern.test(l));
    expect(at, `no line matches ${pattern}`).toBeGreaterThanOrEqual(0);
    return lines.slice(at + 1).find((l) => l.trimStart().startsWith('->'))!;
  };

  it('finds nothing to fail in a healthy installation, with or without a buffer', async () => {
    const i = install();
    const r = await doctor(i);
    expect(r.stdout).not.toMatch(/^FAIL/m);
    expect(r.code).toBe(0);
    expect(statusLines(r.stdout, 'OK', 'config')).toHaveLength(1);
    expect(statusLines(r.stdout, 'OK', 'keys')).toHaveLength(3);
    expect(statusLines(r.stdout, 'OK', 'keys')[0]).toMatch(
      /gateway private key, mode 600, fingerprint [0-9a-f]{32}$/,
    );
    expect(statusLines(r.stdout, 'OK', 'serial')[0]).toContain(
      `drivers.serial.p1: ${pty.gatewayEnd} -> /dev/pts/`,
    );
    expect(statusLines(r.stdout, 'OK', 'broker')[0]).toContain(
      `upstream broker ${broker.url} accepted an MQTT connection`,
    );
    expect(r.stdout).toMatch(/^(OK|WARN) {2}clock {3}/m);
    expect(statusLines(r.stdout, 'OK', 'disk')[0]).toMatch(/ (GB|MB) free for /);
    expect(statusLines(r.stdout, 'OK', 'buffer')[0]).toContain('does not exist yet');
    expect(r.stdout).toMatch(/^\d+ OK, \d+ WARN, 0 FAIL$/m);

    // A buffer made by the gateway's own code, then checked read-only ("gateway doctor" is the same command).
    openDatabase(path.join(i.dataDir, 'buffer.sqlite'), { synchronous: 'NORMAL' }).close();
    const again = await doctor(i, ['doctor']);
    expect(again.code).toBe(0);
    expect(statusLines(again.stdout, 'OK', 'buffer')[0]).toMatch(
      new RegExp(`buffer.sqlite: schema ${MIGRATIONS.length}, quick_check ok, \\d+ kB$`),
    );
  });

  it('fails a serial port that does not exist', async () => {
    const i = install((c) => (c.drivers.serial.p1.path = '/dev/meterspace-p1-not-plugged'));
    const r = await doctor(i);
    expect(r.code).toBe(1);
    expect(statusLines(r.stdout, 'FAIL', 'serial')).toEqual([
      'FAIL  serial  drivers.serial.p1: /dev/meterspace-p1-not-plugged does not exist',
    ]);
    expect(fixUnder(r.stdout, /^FAIL {2}serial/)).toContain(
      'plug the cable in and check `ls -l /dev/serial/by-id/`',
    );
    expect(r.stdout).toMatch(/^\d+ OK, \d+ WARN, 1 FAIL$/m);
  });

  it('fails a broker that is down', async () => {
    const i = install();
    await broker.stop();
    try {
      const r = await doctor(i);
      expect(r.code).toBe(1);
      expect(statusLines(r.stdout, 'FAIL', 'broker')).toEqual([
        `FAIL  broker  upstream broker ${broker.url}: nothing accepts connections there (connection refused)`,
      ]);
      expect(fixUnder(r.stdout, /^FAIL {2}broker/)).toContain('start the broker, or fix the host and port');
    } finally {
      await broker.restart();
    }
  });

  it('fails a gateway private key that others may read', async () => {
    const i = install();
    const key = path.join(i.keyDir, 'gateway.ed25519.key.pem');
    chmodSync(key, 0o644);
    const r = await doctor(i);
    expect(r.code).toBe(1);
    expect(statusLines(r.stdout, 'FAIL', 'keys')).toEqual([
      `FAIL  keys    keys.gatewayPrivate: gateway private key ${key} is accessible by group or others (mode 644); ` +
        `run: chmod 600 ${key}`,
    ]);
    expect(fixUnder(r.stdout, /^FAIL {2}keys/).trim()).toBe(`-> sudo chmod 600 ${key}`);
  });

  it('fails an invalid configuration and still checks the clock', async () => {
    const i = install((c) => (c.privacy = { k: 3, kFloor: 5 }));
    const r = await doctor(i);
    expect(r.code).toBe(1);
    expect(statusLines(r.stdout, 'FAIL', 'config')[0]).toContain(`${i.configFile}: 1 configuration error(s)`);
    expect(r.stdout).toMatch(/^ {16}- privacy\.k: must be at least privacy\.kFloor \(5\)$/m);
    expect(r.stdout).toMatch(/^(OK|WARN) {2}clock {3}/m);
    expect(r.stdout).not.toMatch(/^(OK|WARN|FAIL) +(keys|serial|broker|disk|buffer) /m);
    expect(r.stdout).toContain('1 FAIL (keys, ports, brokers, disk and buffer need a valid configuration)');
  });

  it('fails a damaged buffer and a supplier private key among the keys', async () => {
    const i = install();
    mkdirSync(i.dataDir);
    writeFileSync(
      path.join(i.dataDir, 'buffer.sqlite'),
      'this is not a database, it only has its name'.repeat(200),
    );
    copyFileSync(keyFiles.supplierPrivate, path.join(i.keyDir, 'supplier.paillier.key.json'));
    const r = await doctor(i);
    expect(r.code).toBe(1);
    expect(statusLines(r.stdout, 'FAIL', 'buffer')[0]).toMatch(/buffer\.sqlite: file is not a database$/);
    expect(statusLines(r.stdout, 'FAIL', 'keys')[0]).toContain(
      'supplier.paillier.key.json is a supplier PRIVATE key',
    );
    expect(r.stdout).toMatch(/^\d+ OK, \d+ WARN, 2 FAIL$/m);
  });
});

describe('the clock check', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  it('fails a clock that was never set and warns when NTP does not keep it', () => {
    expect(checkClock(Date.parse('1970-01-01T00:01:00Z'), { synchronised: true }).status).toBe('FAIL');
    expect(checkClock(Date.parse('2023-12-31T23:59:59Z'), { synchronised: true }).status).toBe('FAIL');
    expect(checkClock(now, { synchronised: false })).toMatchObject({ status: 'WARN' });
    expect(checkClock(now, { unknown: 'timedatectl: not found' })).toMatchObject({ status: 'WARN' });
    expect(checkClock(now, { synchronised: true })).toEqual({
      status: 'OK',
      check: 'clock',
      message: '2026-11-24T12:00:00.000Z, synchronised by NTP',
    });
  });
});
