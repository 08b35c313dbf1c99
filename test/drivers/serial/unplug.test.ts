/**
 * Serial ports that disappear and ports that go silent (issue #7, serial faults), for every serial meter kind
 * through the drivers as the gateway builds them, on real pty pairs (socat killed = the plug pulled), each seen
 * in the gateway's meter status: push meters (DSMR P1, SML, IEC 62056-21 mode D) lose their port in the middle of
 * a frame, are plugged back at the same path and read on without a restart, the half frame from before the loss
 * never joined to what comes after; then they fall silent and come back. An IEC 62056-21 mode C meter loses its
 * port in the middle of a readout and is read again after the replug.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { serveModeC, type IecResponderOptions } from '../../../scripts/lib/emulate/iec-responder.ts';
import type { SerialOutput } from '../../../scripts/lib/emulate/serial-output.ts';
import type { PtyPair } from '../../../scripts/lib/pty-pair.ts';
import { INTERVAL, PUSH_KINDS, T0 } from '../../helpers/push-meters.ts';
import { serialRig, type SerialRig } from '../../helpers/serial-rig.ts';
import { waitFor } from '../../helpers/wait.ts';

let rig: SerialRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** 200 Wh per interval. */
const register = (k: number) => 1_000_000 + 200 * k;
const NAMES = PUSH_KINDS.map((k) => k.name);

describe('serial ports unplugged mid-frame, plugged back, and silent', () => {
  it('push meters (DSMR, SML, IEC 62056-21 mode D): down while unplugged or silent, read on exactly after', async () => {
    rig = serialRig(
      Object.fromEntries(
        PUSH_KINDS.map((k) => [
          k.name,
          // Silent after 2 s; reopened every second; readings bridged across the samples the loss cost.
          { ...k.port, silenceSeconds: 2, reopenMaxSeconds: 1, maxSampleGapSeconds: 3600 },
        ]),
      ),
      new ManualClock(T0),
    );
    const r = rig;
    const plugged = new Map<string, { pair: PtyPair; meter: SerialOutput }>();
    const plugAll = async () => {
      for (const name of NAMES) {
        const pair = await r.plug(name);
        plugged.set(name, { pair, meter: await r.meter(name) });
      }
    };
    const write = (k: number) =>
      Promise.all(PUSH_KINDS.map((kind) => plugged.get(kind.name)!.meter.write(kind.frame(k, register(k)))));
    const states = () => NAMES.map((n) => r.meterStatus(n).state);
    const allRead = (n: number) => NAMES.every((name) => r.readingsOf(name).length === n);

    await plugAll();
    await rig.start();
    await write(0);
    await write(1);
    await waitFor(() => allRead(1), 10_000, 'a reading of each meter');
    expect(states()).not.toContain('down');

    // The plug is pulled halfway through frame 2.
    await Promise.all(
      PUSH_KINDS.map((kind) => {
        const frame = kind.frame(2, register(2));
        return plugged.get(kind.name)!.meter.write(frame.subarray(0, frame.length >> 1));
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const { pair, meter } of plugged.values()) await meter.close().then(() => pair.close());
    await waitFor(() => states().every((s) => s === 'down'), 10_000, 'every meter down');
    expect(rig.metrics.get('serial.lost.SERIAL_PORT_FAILED')).toBe(3);

    // Plugged back: the rest of frame 2 comes first, then frames 3 and 4.
    await plugAll();
    await waitFor(
      () => NAMES.every((n) => r.driver(n) && r.meterStatus(n).state !== 'down'),
      15_000,
      'reopened',
    );
    await Promise.all(
      PUSH_KINDS.map((kind) => {
        const frame = kind.frame(2, register(2));
        return plugged.get(kind.name)!.meter.write(frame.subarray(frame.length >> 1));
      }),
    );
    await write(3);
    await write(4);
    await waitFor(() => allRead(4), 10_000, 'readings after the replug');

    // Silent: no byte for 2 s; then the meter speaks again.
    await waitFor(() => states().every((s) => s === 'down'), 10_000, 'every meter silent');
    expect(rig.metrics.get('serial.silent')).toBeGreaterThanOrEqual(3);
    await write(5);
    await waitFor(
      () => allRead(5) && states().every((s) => s !== 'down'),
      10_000,
      'read again after silence',
    );

    for (const name of NAMES) {
      // Frames 0, 1, 3, 4 and 5: intervals 0 to 4, each 200 Wh (1 to 3 bridged across the lost frame 2).
      expect(rig.readingsOf(name).map((x) => [(x.start - T0) / INTERVAL, x.wh])).toEqual(
        [0, 1, 2, 3, 4].map((k) => [k, 200]),
      );
      // The half frame before the loss never joined the half after it: at most the orphaned rest is refused as
      // bytes outside a frame (DSMR drops them silently).
      const codes = Object.keys(rig.meterStatus(name).rejected);
      expect(codes.filter((c) => c !== 'FRAME_MALFORMED')).toEqual([]);
    }
    console.info(
      `push meters: refused after the replug ${JSON.stringify(NAMES.map((n) => [n, r.meterStatus(n).rejected]))}, ` +
        `lost ${rig.metrics.get('serial.lost.SERIAL_PORT_FAILED')}, silent ${rig.metrics.get('serial.silent')}`,
    );
  }, 60_000);

  it('IEC 62056-21 mode C: a port lost in the middle of a readout is down, and read again after the replug', async () => {
    const started = Date.now();
    /** The meter's clock runs 60 times faster: one-minute intervals pass every second. */
    const meterNow = () => T0 + (Date.now() - started) * 60;
    rig = serialRig(
      { d0: { protocol: 'iec62056-21', iec: { mode: 'C', pollSeconds: 1 }, reopenMaxSeconds: 1 } },
      new ManualClock(T0),
      1,
    );
    const r = rig;
    /** The meter, plugged in: its register 1 Wh per second of its clock (60 Wh a minute). */
    const plugMeter = async (pace?: IecResponderOptions['pace']) => {
      const pair = await r.plug('d0');
      const out = await r.meter('d0');
      serveModeC({
        out,
        now: meterNow,
        registerWh: (t) => 1_000_000 + (t - T0) / 1000,
        timeZone: 'UTC',
        serial: '42',
        ...(pace ? { pace } : {}),
      });
      return { unplug: async () => (await out.close(), await pair.close()) };
    };
    let pulled: Promise<void> | undefined;
    // The second readout's data message stops after its first half; the plug is pulled meanwhile.
    const first = await plugMeter((message, request) => {
      if (message !== 'data' || request !== 2) return undefined;
      pulled = new Promise((resolve) => setTimeout(resolve, 500)).then(() => first.unplug());
      return { pieces: 2, gapMs: 1500 };
    });
    await rig.start();
    await waitFor(() => pulled !== undefined, 15_000, 'the second readout');
    await pulled;
    await waitFor(() => r.meterStatus('d0').state === 'down', 10_000, 'the meter down');
    const framesBefore = rig.metrics.get('driver.iec62056-21.frames');
    expect(framesBefore).toBe(1);

    await plugMeter();
    await waitFor(() => r.metrics.get('driver.iec62056-21.frames') >= 3, 20_000, 'readouts after the replug');
    await waitFor(() => r.readingsOf('d0').length >= 1, 10_000, 'a reading after the replug');
    expect(rig.meterStatus('d0').state).toBe('up');
    expect(rig.metrics.get('serial.lost.SERIAL_PORT_FAILED')).toBe(1);
    for (const x of rig.readingsOf('d0')) expect(x.wh).toBe(60);
    // The readout cut by the loss is not a refused frame: its half is dropped with the session.
    expect(rig.meterStatus('d0').rejected).toEqual({});
  }, 60_000);
});
