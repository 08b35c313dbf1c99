/**
 * A DSMR meter on a real pty pair through the push driver: good telegrams become interval readings (placed by the
 * meter's clock), corrupted ones and garbage between them are counted and skipped, and pulling the plug (socat
 * killed) and plugging it back (socat again at the same path) resumes reading with no restart of the driver.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import { writeTelegram } from '../../../drivers/dsmr/telegram-writer.ts';
import { pushProtocolFor } from '../../../drivers/serial/protocols.ts';
import { PushMeterDriver } from '../../../drivers/serial/push-meter-driver.ts';
import { openSerialPort } from '../../../drivers/serial/serial-link.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { openPtyPair, type PtyPair } from '../../../scripts/lib/pty-pair.ts';
import { localMeterTime } from '../../../scripts/lib/emulate/meter-time.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { waitFor } from '../../helpers/wait.ts';

const I = 15 * 60_000;
const T0 = Date.parse('2024-03-01T11:00:00Z');
const AMS = 'Europe/Amsterdam';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function telegram(t: number, wh: number): Buffer {
  return writeTelegram({
    version: '5.0',
    identification: 'ISk5\\2MT382-1000',
    time: localMeterTime(t, AMS),
    values: [
      { obis: '1-0:1.8.1', value: Math.floor(wh / 2) / 1000, unit: 'kWh' },
      { obis: '1-0:1.8.2', value: (wh - Math.floor(wh / 2)) / 1000, unit: 'kWh' },
    ],
  });
}

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'p1-'));
  const meterEnd = path.join(dir, 'meter');
  const gatewayEnd = path.join(dir, 'gateway');
  const plug = async (): Promise<{ pair: PtyPair; write: (b: Buffer) => Promise<void> }> => {
    const pair = await openPtyPair(meterEnd, gatewayEnd);
    const port = await openSerialPort(meterEnd, {
      baudRate: 115200,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
    });
    cleanups.push(async () => (await port.close(), await pair.close()));
    const write = (b: Buffer) => new Promise<void>((r, j) => port.stream.write(b, (e) => (e ? j(e) : r())));
    return {
      pair: { ...pair, close: async () => (await port.close(), await pair.close()) },
      write,
    };
  };
  const readings: Reading[] = [];
  const metrics = new Metrics();
  /** What the driver reports to the gateway's meter status. */
  const links: boolean[] = [];
  const rejects: string[] = [];
  const report = {
    link: (m: string, up: boolean) => links.push(m === 'm1' && up),
    rejected: (m: string, code: string) => rejects.push(`${m} ${code}`),
  };
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { serial: { p1: { path: gatewayEnd, protocol: 'dsmr', timezone: AMS } } },
    neighbourhoods: [{ id: 'n' }],
    meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'serial', port: 'p1' } }],
  });
  const port = config.drivers.serial!.p1!;
  const driver = new PushMeterDriver(
    pushProtocolFor(port),
    {
      link: {
        name: 'p1',
        path: gatewayEnd,
        line: { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 },
        silenceMs: 60_000,
        reopenInitialMs: 50,
        reopenMaxMs: 200,
      },
      series: {
        meterId: 'm1',
        intervalMs: I,
        maxSampleGapMs: I,
        timeZone: AMS,
        trustMeterClock: true,
        maxSkewMs: 120_000,
      },
    },
    driverContext({
      meters: config.meters,
      readings,
      clock: new ManualClock(T0),
      intervalMs: I,
      metrics,
      report,
    }),
    openSerialPort,
  );
  cleanups.push(() => driver.stop());
  return { driver, plug, readings, metrics, links, rejects };
}

describe('PushMeterDriver (DSMR over a pty pair)', () => {
  it('turns telegrams into interval readings, skipping corrupted frames and garbage', async () => {
    const s = setup();
    const meter = await s.plug();
    await s.driver.start();
    await waitFor(() => s.driver.state === 'open');
    await meter.write(telegram(T0, 1_000_000));
    const bad = telegram(T0 + 60_000, 1_000_050);
    bad[40] = bad[40]! ^ 0x04; // one flipped bit: CRC mismatch
    await meter.write(bad);
    await meter.write(Buffer.from('\x00\xffnoise between telegrams\r\n'));
    await meter.write(telegram(T0 + 120_000, 1_000_100).subarray(0, 50)); // cut short by the next telegram
    await meter.write(telegram(T0 + I, 1_000_321));
    await waitFor(() => s.readings.length === 1);
    expect(s.readings[0]).toEqual({ meterId: 'm1', start: T0, end: T0 + I, wh: 321 });
    expect(s.metrics.get('driver.dsmr.rejected.FRAME_CHECKSUM')).toBe(1);
    expect(s.metrics.get('driver.dsmr.rejected.FRAME_TRUNCATED')).toBe(1);
    expect(s.metrics.get('driver.dsmr.frames')).toBe(2);
    expect(s.rejects).toEqual(['m1 FRAME_CHECKSUM', 'm1 FRAME_TRUNCATED']);
  });

  it('resumes reading after the plug is pulled and put back, without a restart', async () => {
    const s = setup();
    const first = await s.plug();
    await s.driver.start();
    await waitFor(() => s.driver.state === 'open');
    await first.write(telegram(T0, 500));
    await first.write(telegram(T0 + I, 800));
    await waitFor(() => s.readings.length === 1);

    await first.pair.close();
    await waitFor(() => s.driver.state === 'failed');
    const second = await s.plug();
    await waitFor(() => s.driver.state === 'open');
    await second.write(telegram(T0 + 2 * I, 1000));
    await second.write(telegram(T0 + 3 * I, 1450));
    await waitFor(() => s.readings.length === 3);
    expect(s.readings.map((r) => [r.start - T0, r.wh])).toEqual([
      [0, 300],
      [I, 200],
      [2 * I, 450],
    ]);
    expect(s.metrics.get('serial.lost.SERIAL_PORT_FAILED')).toBe(1);
    // The meter's link as the gateway's meter status hears it: up, down when unplugged (once more for each
    // attempt to reopen that came before the replug, as on a loaded machine), up again.
    expect(s.links.filter((up, i) => i === 0 || up !== s.links[i - 1])).toEqual([true, false, true]);
  });
});
