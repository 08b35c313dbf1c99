/**
 * The IEC 62056-21 mode C driver over a real pty pair against the emulator's meter responder (real timers: sign-on
 * at 300 baud, identification, option select, baud switch, data message with BCC): readouts become interval
 * readings placed by the meter's clock; a port with no meter behind it counts DEVICE_TIMEOUT and never throws;
 * pulling the plug and putting it back resumes the readouts without a restart.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModeCDriver } from '../../../drivers/iec62056-21/mode-c-driver.ts';
import { lineSettings, SIGN_ON_BAUD } from '../../../drivers/iec62056-21/protocol.ts';
import { openSerialPort } from '../../../drivers/serial/serial-link.ts';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { systemClock } from '../../../gateway/time/clock.ts';
import { serveModeC } from '../../../scripts/lib/emulate/iec-responder.ts';
import { openSerialOutput } from '../../../scripts/lib/emulate/serial-output.ts';
import { openPtyPair } from '../../../scripts/lib/pty-pair.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { waitFor } from '../../helpers/wait.ts';

const INTERVAL = 4000;
const T0 = Math.floor(Date.now() / 1000) * 1000;
/** 0.1 Wh per ms: an interval of 4 s is exactly 400 Wh. */
const register = (t: number) => 1_000_000 + (t - T0) / 10;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function meterOn(dir: string): Promise<() => Promise<void>> {
  const pair = await openPtyPair(path.join(dir, 'meter'), path.join(dir, 'gateway'));
  const out = await openSerialOutput({ device: pair.meterEnd }, lineSettings(SIGN_ON_BAUD));
  serveModeC({ out, now: () => Date.now(), registerWh: register, timeZone: 'UTC', serial: '42' });
  const unplug = async () => (await out.close(), await pair.close());
  cleanups.push(unplug);
  return unplug;
}

function driver(dir: string) {
  const readings: Reading[] = [];
  const metrics = new Metrics();
  const d = new ModeCDriver(
    {
      link: {
        name: 'd0',
        path: path.join(dir, 'gateway'),
        silenceMs: 60_000,
        reopenInitialMs: 50,
        reopenMaxMs: 200,
      },
      session: { maxBaud: 9600 },
      pollMs: 1500,
      series: {
        meterId: 'm1',
        intervalMs: INTERVAL,
        maxSampleGapMs: 10_000,
        timeZone: 'UTC',
        trustMeterClock: true,
        maxSkewMs: 5000,
      },
    },
    driverContext({ meters: [], readings, clock: systemClock, intervalMs: INTERVAL, metrics }),
    openSerialPort,
  );
  cleanups.push(() => d.stop());
  return { d, readings, metrics };
}

describe('ModeCDriver over a pty pair', () => {
  it('reads the meter on schedule and turns its register into interval readings', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'd0-'));
    await meterOn(dir);
    const { d, readings, metrics } = driver(dir);
    await d.start();
    await waitFor(() => readings.length >= 2, 20_000, 'two readings');
    expect(metrics.get('driver.iec62056-21.frames')).toBeGreaterThanOrEqual(3);
    for (const r of readings) {
      expect(r.end - r.start).toBe(INTERVAL);
      expect(r.start % INTERVAL).toBe(0);
      expect(r.wh).toBe(400);
    }
  }, 30_000);

  it('counts DEVICE_TIMEOUT when no meter answers, and resumes after an unplug and replug', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'd0-'));
    // A port with nothing behind it: the sign-on goes unanswered.
    const silent = await openPtyPair(path.join(dir, 'meter'), path.join(dir, 'gateway'));
    const { d, readings, metrics } = driver(dir);
    await d.start();
    await waitFor(() => metrics.get('driver.iec62056-21.rejected.DEVICE_TIMEOUT') >= 1, 10_000, 'a timeout');
    await silent.close();
    await meterOn(dir);
    await waitFor(() => readings.length >= 1, 25_000, 'a reading after the replug');
    expect(metrics.get('driver.iec62056-21.frames')).toBeGreaterThanOrEqual(2);
  }, 40_000);
});
