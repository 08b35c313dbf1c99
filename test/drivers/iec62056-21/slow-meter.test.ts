/**
 * An IEC 62056-21 meter answering slowly in mode C (issue #7, serial faults), against the driver as the gateway
 * builds it, with its real time-outs (identification: the request, tr max and the longest identification at
 * 300 baud, about 2.5 s; data message: 2 s of silence), on a real pty pair with the emulator's meter responder
 * slowed down: an identification and a data message dribbled out just inside the time-outs are read; a data
 * message that stops for longer is FRAME_TRUNCATED, an identification later than its time-out DEVICE_TIMEOUT,
 * both counted in the meter status; the next readout succeeds; and nothing of a failed readout (its late bytes
 * carry a poisoned register) ever reaches a reading.
 *
 * The meter's clock runs 60 times faster than the wall clock, so that one-minute intervals pass every second.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { serveModeC, type Pace } from '../../../scripts/lib/emulate/iec-responder.ts';
import { serialRig, type SerialRig } from '../../helpers/serial-rig.ts';
import { waitFor } from '../../helpers/wait.ts';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const MINUTE = 60_000;
/** 1 Wh per second of meter time: 60 Wh a minute. */
const register = (t: number) => 1_000_000 + (t - T0) / 1000;
const POISON = 1_000_000;

let rig: SerialRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('a slow IEC 62056-21 meter in mode C, over a pty pair', () => {
  it('is read inside the time-outs; beyond them each readout fails by code, the next succeeds, nothing late is used', async () => {
    // What the meter does for each request it answers (counted from 1); the rest are answered at once.
    const script: Record<number, { identification?: Pace; data?: Pace; poisoned?: boolean }> = {
      // Identification in three pieces 0.5 s apart (complete 1.2 s after the request, of ~2.5 s), then the data
      // message in three pieces 1.2 s apart (each pause inside the 2 s of silence allowed; 2.4 s in all).
      2: { identification: { pieces: 3, gapMs: 500 }, data: { pieces: 3, gapMs: 1200 } },
      // The data message stops for 2.6 s after its first piece: FRAME_TRUNCATED; its rest comes late.
      3: { data: { pieces: 2, gapMs: 2600 }, poisoned: true },
      // The identification comes 3 s late: DEVICE_TIMEOUT.
      4: { identification: { delayMs: 3000 }, poisoned: true },
    };
    /** Readouts read when the meter answers each request. */
    const readBefore: Record<number, number> = {};
    const started = Date.now();
    const meterNow = () => T0 + (Date.now() - started) * 60;
    rig = serialRig(
      { d0: { protocol: 'iec62056-21', iec: { mode: 'C', pollSeconds: 1 } } },
      new ManualClock(T0),
      1,
    );
    await rig.plug('d0');
    const served = serveModeC({
      out: await rig.meter('d0'),
      now: meterNow,
      registerWh: (t, request) => register(t) + (script[request]?.poisoned ? POISON : 0),
      timeZone: 'UTC',
      serial: '42',
      pace: (message, request) => {
        if (message === 'identification') readBefore[request] = rig!.metrics.get('driver.iec62056-21.frames');
        return script[request]?.[message];
      },
    });
    await rig.start();
    const r = rig;
    const failures = () => r.meterStatus('d0').rejected;
    /** The meter's time when the readouts made to fail have failed. */
    let failedAt = Infinity;
    await waitFor(
      () => {
        if (failedAt === Infinity && failures().DEVICE_TIMEOUT && failures().FRAME_TRUNCATED)
          failedAt = meterNow();
        // Readings from readouts after the failures: the register read after them joins the one before.
        return r.readingsOf('d0').some((x) => x.start >= failedAt);
      },
      45_000,
      'slow readouts, failed readouts and good ones after them',
      () => `refused ${JSON.stringify(failures())}, frames ${r.metrics.get('driver.iec62056-21.frames')}`,
    );
    const readings = rig.readingsOf('d0');
    console.info(
      `iec62056-21 mode C: ${served.readouts()} data messages sent, ` +
        `${rig.metrics.get('driver.iec62056-21.frames')} readouts read, refused ${JSON.stringify(failures())}, ` +
        `${readings.length} readings in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // The slow readout was read: by the time the meter answered request 3, readouts 1 and 2 had been.
    expect(readBefore[3]).toBe(2);
    // Only the readouts made to fail failed (the late identification of 4 may cost the next readout too).
    expect(Object.keys(failures()).sort()).toEqual(['DEVICE_TIMEOUT', 'FRAME_TRUNCATED']);
    expect(failures().FRAME_TRUNCATED).toBe(1);
    // Every reading is one minute of the meter's straight-line register: no poisoned (late) register, which would
    // also have made the register go back down at the next good readout; no interval twice.
    expect(rig.metrics.get('driver.samples_regressed')).toBe(0);
    for (const x of readings) {
      expect(x.end - x.start).toBe(MINUTE);
      expect(x.wh).toBe(60);
    }
    expect(new Set(readings.map((x) => x.start)).size).toBe(readings.length);
    // Failed readouts are refusals, not a lost link.
    expect(rig.meterStatus('d0').state).not.toBe('down');
  }, 60_000);
});
