/**
 * `dsmrVersion: auto` on a real pty pair: a DSMR 4.2 meter sending 115200 7E1 (its characters on the wire with
 * their parity bit, as the emulator writes them) is first read at 115200 8N1, where no telegram survives ("/"
 * arrives as 0xAF); the driver moves on to 115200 7E1, reads good telegrams and keeps those settings. A DSMR 5
 * meter (8N1) is kept at the first try. Unplugging and plugging back keeps the settings that worked.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import type { DsmrVersion } from '../../../drivers/dsmr/dsmr-version.ts';
import { writeTelegram } from '../../../drivers/dsmr/telegram-writer.ts';
import { buildSerialDrivers } from '../../../drivers/serial/build-serial.ts';
import type { PushMeterDriver } from '../../../drivers/serial/push-meter-driver.ts';
import { openSerialPort, type LineSettings, type PortOpener } from '../../../drivers/serial/serial-link.ts';
import { localMeterTime } from '../../../scripts/lib/emulate/meter-time.ts';
import { openSerialOutput, type SerialOutput } from '../../../scripts/lib/emulate/serial-output.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { waitFor } from '../../helpers/wait.ts';

const I = 15 * 60_000;
const T0 = Date.parse('2024-03-01T11:00:00Z');
const AMS = 'Europe/Amsterdam';
const LINE_7E1: LineSettings = { baudRate: 115200, dataBits: 7, parity: 'even', stopBits: 1 };
const LINE_8N1: LineSettings = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const telegram = (version: DsmrVersion, t: number, wh: number): Buffer =>
  writeTelegram({
    version,
    identification: 'KFM5KAIFA-METER',
    time: localMeterTime(t, AMS),
    values: [{ obis: '1-0:1.8.1', value: wh / 1000, unit: 'kWh' }],
  });

function setup(meterLine: LineSettings, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'p1-auto-'));
  const metrics = new Metrics();
  const readings: Reading[] = [];
  const opened: LineSettings[] = [];
  const open: PortOpener = (p, line) => (opened.push(line), openSerialPort(p, line));
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: {
      serial: {
        p1: {
          path: path.join(dir, 'gateway'),
          protocol: 'dsmr',
          dsmrVersion: 'auto',
          lineDetectSeconds: 1,
          timezone: AMS,
          ...extra,
        },
      },
    },
    neighbourhoods: [{ id: 'n' }],
    meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'serial', port: 'p1' } }],
  });
  const [driver] = buildSerialDrivers(
    config,
    (meters) => driverContext({ meters, readings, clock: new ManualClock(T0), intervalMs: I, metrics }),
    open,
  ) as [PushMeterDriver];
  cleanups.push(() => driver.stop());
  let meter: SerialOutput | undefined;
  const plug = async () => {
    meter = await openSerialOutput({ ptyDir: dir }, meterLine);
    cleanups.push(() => meter!.close());
  };
  const unplug = async () => meter?.close();
  /** A telegram every 200 ms until `until` holds. */
  const sendUntil = async (version: DsmrVersion, until: () => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; !until(); i++) {
      if (Date.now() > deadline) throw new Error('timed out sending telegrams');
      await meter!.write(telegram(version, T0 + i * 10_000, 1_000_000 + i));
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { driver, metrics, readings, opened, plug, unplug, sendUntil };
}

describe('DSMR line-setting detection (dsmrVersion: auto) on a pty pair', () => {
  it('finds 115200 7E1 for a DSMR 4.2 meter after 8N1 gave no telegram, and keeps it', async () => {
    const s = setup(LINE_7E1);
    await s.plug();
    await s.driver.start();
    await s.sendUntil('4.2', () => s.metrics.get('driver.dsmr.frames') >= 3);
    expect(s.opened).toEqual([LINE_8N1, LINE_7E1]);
    expect(s.metrics.get('serial.line_switched')).toBe(1);
    expect(s.metrics.get('serial.line_detected')).toBe(1);
    // Nothing read at the wrong settings was taken for a telegram.
    expect(s.metrics.get('driver.dsmr.rejected.FRAME_CHECKSUM')).toBe(0);
    // Kept: more windows pass without a switch.
    await new Promise((r) => setTimeout(r, 1500));
    await s.sendUntil('4.2', () => s.metrics.get('driver.dsmr.frames') >= 6);
    expect(s.metrics.get('serial.line_switched')).toBe(1);

    // Unplugged and plugged back: reopened at the settings that worked.
    await s.unplug();
    await waitFor(() => s.driver.state === 'failed', 5000, 'the loss of the port');
    await s.plug();
    await waitFor(() => s.driver.state === 'open', 5000, 'the port back');
    const frames = s.metrics.get('driver.dsmr.frames');
    await s.sendUntil('4.2', () => s.metrics.get('driver.dsmr.frames') >= frames + 2);
    expect(s.opened.at(-1)).toEqual(LINE_7E1);
    expect(s.metrics.get('serial.line_switched')).toBe(1);
  }, 30_000);

  it('keeps 115200 8N1 at the first try for a DSMR 5 meter', async () => {
    const s = setup(LINE_8N1);
    await s.plug();
    await s.driver.start();
    await s.sendUntil('5.0', () => s.metrics.get('driver.dsmr.frames') >= 3);
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.opened).toEqual([LINE_8N1]);
    expect(s.metrics.get('serial.line_switched')).toBe(0);
    expect(s.metrics.get('serial.line_detected')).toBe(1);
  }, 20_000);

  it('with line settings in the config, does not detect: the settings are used as given', async () => {
    const s = setup(LINE_7E1, { line: { baudRate: 115200, dataBits: 8, parity: 'none' } });
    await s.plug();
    await s.driver.start();
    await waitFor(() => s.driver.state === 'open');
    let sent = 0;
    await s.sendUntil('4.2', () => ++sent > 12);
    expect(s.opened).toEqual([LINE_8N1]);
    expect(s.metrics.get('serial.line_switched')).toBe(0);
    expect(s.metrics.get('driver.dsmr.frames')).toBe(0);
  }, 20_000);
});
