/**
 * A serial port spewing garbage at full speed (issue #7, serial faults), for each push protocol (DSMR P1, SML,
 * IEC 62056-21 mode D) through the drivers as the gateway builds them, on real pty pairs: a separate process
 * writes random bytes, then runs of frame starts, then frame starts that never end, as fast as the pty takes them.
 * Meanwhile: nothing throws, the heap (after a full GC) stays bounded (the framers hold at most their maximum
 * frame), the garbage is counted under its codes in the meter status, a timer keeps firing, and a DSMR meter on
 * a second port keeps delivering readings. When the garbage stops, a genuine meter on the same port is read
 * without a restart.
 *
 * SERIAL_FLOOD_SECONDS (default 3) sets how long each flood lasts (e.g. 60 for a longer run, outside CI); the
 * figures are printed per protocol.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { DSMR, INTERVAL, PUSH_KINDS, T0 } from '../../helpers/push-meters.ts';
import { startFlood, type Flood } from '../../helpers/serial-flood.ts';
import { serialRig, type SerialRig } from '../../helpers/serial-rig.ts';
import { waitFor } from '../../helpers/wait.ts';

const SECONDS = Number(process.env.SERIAL_FLOOD_SECONDS ?? 3);
const I = INTERVAL;
const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => (gc(), gc(), process.memoryUsage().heapUsed / MB);

let rig: SerialRig | undefined;
let flood: Flood | undefined;
let timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers = [];
  await flood?.stop();
  await rig?.close();
  rig = flood = undefined;
});

describe.each(PUSH_KINDS)('a port spewing garbage at full speed: $name', (c) => {
  it(
    'is survived with bounded memory and counted; the loop and another port go on; a genuine meter is read after',
    async () => {
      rig = serialRig({ noisy: c.port, calm: DSMR.port }, new ManualClock(T0));
      await rig.plug('noisy');
      await rig.plug('calm');
      await rig.start();
      // The meter's end stays open through the flood (the flood writes through its own descriptor), as a meter's
      // cable stays plugged in; the genuine meter writes through it afterwards.
      const noisyMeter = await rig.meter('noisy');
      const calmMeter = await rig.meter('calm');

      // The calm meter: a telegram every 100 ms, each one interval later, 100 Wh per interval.
      let k = 0;
      const calmTelegram = () => calmMeter.write(DSMR.frame(k, 1_000_000 + 100 * k++));
      await calmTelegram();
      timers.push(setInterval(() => void calmTelegram().catch(() => undefined), 100));
      await waitFor(() => rig!.readingsOf('calm').length >= 2, 10_000, 'the calm meter read');

      // The event loop: the longest gap between ticks of a 10 ms timer.
      let last = performance.now();
      let maxGapMs = 0;
      timers.push(
        setInterval(() => {
          const now = performance.now();
          maxGapMs = Math.max(maxGapMs, now - last);
          last = now;
        }, 10),
      );
      const heapBefore = heapMb();
      const rssBefore = process.memoryUsage().rss / MB;
      let heapPeak = heapBefore;
      let rssPeak = rssBefore;
      timers.push(
        setInterval(() => {
          heapPeak = Math.max(heapPeak, heapMb());
          rssPeak = Math.max(rssPeak, process.memoryUsage().rss / MB);
        }, 250),
      );
      const calmBefore = rig.readingsOf('calm').length;
      flood = startFlood(
        rig.meterPath('noisy'),
        ['random', { pattern: c.start }, { pattern: c.start, filler: c.filler }],
        SECONDS,
      );
      const written = await flood.done;
      const calmDuring = rig.readingsOf('calm').length - calmBefore;

      // The garbage stops; the genuine meter speaks on the same port, and is read with no restart. Its frames come
      // after what the pty still holds of the garbage: once they are read, all of it has been through the framer.
      for (let n = 0; n < 4; n++) await noisyMeter.write(c.frame(n, 5_000_000 + 250 * n * n));
      await waitFor(() => rig!.readingsOf('noisy').length === 3, 30_000, 'the genuine meter read');
      for (const t of timers) clearInterval(t);
      const rejected = rig.meterStatus('noisy').rejected;
      console.info(
        `${c.name}: ${(written / MB).toFixed(1)} MB of garbage in ${SECONDS} s; heap after GC ` +
          `${heapBefore.toFixed(1)} -> peak ${heapPeak.toFixed(1)} MB, RSS ${rssBefore.toFixed(0)} -> peak ` +
          `${rssPeak.toFixed(0)} MB; longest timer gap ${maxGapMs.toFixed(0)} ms; ${calmDuring} readings of the ` +
          `other port meanwhile; refused: ${JSON.stringify(rejected)}`,
      );
      expect(rig.readingsOf('noisy').map((r) => [(r.start - T0) / I, r.wh])).toEqual([
        [0, 250],
        [1, 750],
        [2, 1250],
      ]);
      expect(rig.meterStatus('noisy').state).not.toBe('down');

      // At least one 64 KiB block of each kind of garbage went through (how much more depends on the machine).
      expect(written).toBeGreaterThanOrEqual(3 * 64 * 1024);
      // Bounded: a framer holds at most its maximum frame (8-16 KiB); generous bounds for a shared machine.
      expect(heapPeak - heapBefore).toBeLessThan(16);
      expect(rssPeak - rssBefore).toBeLessThan(128);
      // Never starved for the length of the flood (up to ~1 s seen with the load average at 16 on 2 cores).
      expect(maxGapMs).toBeLessThan(2500);
      expect(calmDuring).toBeGreaterThanOrEqual(3);
      // The garbage is counted under its codes, for the noisy meter only: a run of frame starts is a truncated
      // frame (one per run: each would cost an Error), a frame start without an end is too long.
      expect(rejected.FRAME_TRUNCATED).toBeGreaterThan(0);
      expect(rejected.FRAME_TOO_LONG).toBeGreaterThan(0);
      expect(Object.keys(rejected).every((code) => code.startsWith('FRAME_'))).toBe(true);
      expect(rig.meterStatus('calm').rejected).toEqual({});
      expect(rig.meterStatus('calm').state).not.toBe('down');
      // Every calm reading is one interval of 100 Wh, none twice.
      const calm = rig.readingsOf('calm');
      expect(calm.every((r) => r.wh === 100)).toBe(true);
      expect(new Set(calm.map((r) => r.start)).size).toBe(calm.length);
    },
    60_000 + 3000 * SECONDS,
  );
});
