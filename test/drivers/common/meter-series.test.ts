/**
 * A meter's own identity, from the real captures, bound through the driver context (issue #14 A): the frame's
 * serial reaches the gateway before its readings; one device answering under two meter ids, or another device
 * under a bound id, stops that meter's readings at the intake's guard, counted and logged once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MeterSeries, frameIdentity, seriesDepsOf } from '../../../drivers/common/meter-series.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { parseSmlFrame } from '../../../drivers/sml/sml-parser.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { MeterGuard } from '../../../gateway/devices/meter-guard.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { capture, frame, type CaptureName } from '../dsmr/dsmr-fixtures.ts';
import { captureFile } from '../sml/sml-fixtures.ts';

const dsmr = (name: CaptureName) => parseTelegram(frame([capture(name)]).telegrams[0]!, { mbus: false });

let buffer: BufferStore | undefined;
afterEach(() => buffer?.close());

describe('frameIdentity on the captures', () => {
  it("is the meter's own serial: DSMR equipment id (hex decoded), SML server id; none for a placeholder", () => {
    expect(frameIdentity(dsmr('TELEGRAM_V5'))).toBe('meter-serial:K8EG004046395507');
    expect(frameIdentity(dsmr('TELEGRAM_V4_2'))).toBe('meter-serial:3960221976967177082151037881335713');
    expect(frameIdentity(dsmr('TELEGRAM_V2_2'))).toBeUndefined(); // "00000000000000"
    expect(frameIdentity(parseSmlFrame(captureFile(0)))).toBe('meter-serial:0901444e540100002030');
  });
});

describe('identity through the driver context', () => {
  function rig() {
    const config = validateConfig({
      gateway: { id: 'gw-1' },
      keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem' },
      upstream: { url: 'mqtt://127.0.0.1:1883' },
      drivers: { replay: { file: '/d.csv' } },
      neighbourhoods: [{ id: 'north' }],
      meters: ['m1', 'm2'].map((id) => ({
        id,
        neighbourhood: 'north',
        account: `A-${id}`,
        source: { driver: 'replay', household: id },
      })),
    });
    buffer = openTestBuffer(35n ** 2n, new Metrics());
    const metrics = new Metrics();
    const wall = { now: () => 1000 };
    const guard = new MeterGuard(config, buffer.devices, (p) => p, wall, metrics, silentLogger());
    const ctx = {
      ...driverContext({ meters: config.meters, readings: [], clock: wall, intervalMs: 1_800_000, metrics }),
      identify: guard.identify,
    };
    const series = (id: string) =>
      new MeterSeries(
        {
          meterId: id,
          intervalMs: 1_800_000,
          maxSampleGapMs: 3_600_000,
          timeZone: 'Europe/Amsterdam',
          trustMeterClock: false,
          maxSkewMs: 60_000,
        },
        seriesDepsOf(ctx, id),
      );
    return { config, guard, metrics, series };
  }

  it('binds the first meter a device answers for, and refuses the same device under a second id', () => {
    const { config, guard, metrics, series } = rig();
    series('m1').frame(dsmr('TELEGRAM_V5'), 1000);
    expect(buffer!.devices.deviceOf('m1')).toBe('meter-serial:K8EG004046395507');
    guard.admit(config.meters[0]!);
    series('m2').frame(dsmr('TELEGRAM_V5'), 2000);
    expectCode('DEVICE_BOUND_ELSEWHERE', () => guard.admit(config.meters[1]!));
    series('m2').frame(dsmr('TELEGRAM_V5'), 3000);
    expect(metrics.snapshot()['devices.refused.DEVICE_BOUND_ELSEWHERE']).toBe(1);
  });

  it('refuses a bound meter on whose source another device answers, and takes it back when its own returns', () => {
    const { config, guard, series } = rig();
    const m1 = series('m1');
    m1.frame(dsmr('TELEGRAM_V5'), 1000);
    m1.frame(dsmr('TELEGRAM_V4_2'), 2000);
    expectCode('DEVICE_CHANGED', () => guard.admit(config.meters[0]!));
    m1.frame(dsmr('TELEGRAM_V5'), 3000);
    expect(() => guard.admit(config.meters[0]!)).not.toThrow();
  });
});
