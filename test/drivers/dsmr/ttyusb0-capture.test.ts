/**
 * The long capture: 566 consecutive telegrams (1 Hz) of an Iskra AM550 (DSMR 5.0), from the dsmr-tools
 * project, committed gzipped. The file starts inside a telegram and lost its CRs; with them restored every
 * telegram passes its CRC, and the meter's registers and clock only move forward.
 */
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../gateway/errors.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import type { MeterFrame } from '../../../drivers/common/meter-frame.ts';
import { chunked, frame, lfToCrlf, ttyUsb0Raw } from './dsmr-fixtures.ts';

const raw = ttyUsb0Raw();
const reading = (f: MeterFrame, obis: string): number => f.values.find((v) => v.obis === obis)!.value;
const seconds = (f: MeterFrame): number => {
  const l = f.time!.kind === 'local' ? f.time!.local : undefined;
  return Date.UTC(l!.year, l!.month - 1, l!.day, l!.hour, l!.minute, l!.second) / 1000;
};

describe('ttyUSB0-raw.txt (dsmr-tools)', () => {
  it('as captured (LF): 566 telegrams framed, the leading fragment discarded, every CRC fails', () => {
    const f = frame([raw]);
    expect(f.telegrams).toHaveLength(566);
    expect(f.rejects).toEqual([]);
    expect(f.framer.discardedBytes).toBe(raw.indexOf('/'));
    for (const t of f.telegrams) {
      expect(() => parseTelegram(t)).toThrow(expect.objectContaining({ code: 'FRAME_CHECKSUM' }) as Error);
    }
  });

  it('with CR LF restored: all 566 pass their CRC; 1.8.1/1.8.2 monotonic, clock one second apart', () => {
    const { telegrams, rejects } = frame(chunked(lfToCrlf(raw), [1, 17, 4096, 3]));
    expect(rejects).toEqual([]);
    expect(telegrams).toHaveLength(566);
    const frames = telegrams.map((t) => parseTelegram(t));
    const first = frames[0]!;
    // Read off the first complete telegram: 0-0:1.0.0(190324150519W), 1-0:1.8.1(003432.827*kWh).
    expect(first.time).toEqual({
      kind: 'local',
      local: { year: 2019, month: 3, day: 24, hour: 15, minute: 5, second: 19, dst: false },
    });
    expect(reading(first, '1-0:1.8.1')).toBe(3432.827);
    expect(reading(first, '1-0:1.8.2')).toBe(3224.632);
    for (let i = 1; i < frames.length; i++) {
      const [a, b] = [frames[i - 1]!, frames[i]!];
      expect(reading(b, '1-0:1.8.1')).toBeGreaterThanOrEqual(reading(a, '1-0:1.8.1'));
      expect(reading(b, '1-0:1.8.2')).toBeGreaterThanOrEqual(reading(a, '1-0:1.8.2'));
      expect(seconds(b) - seconds(a)).toBeGreaterThanOrEqual(1);
      expect(b.serial).toBe(first.serial);
      expect(b.identification).toBe('ISK5\\2M550T-1012');
    }
    const last = frames.at(-1)!;
    expect(reading(last, '1-0:1.8.1')).toBeGreaterThan(reading(first, '1-0:1.8.1'));
  });

  it('one flipped byte in every 10th telegram: exactly those rejected, all others parse', () => {
    const crlf = lfToCrlf(raw);
    const { telegrams } = frame([crlf]);
    let rejected = 0;
    telegrams.forEach((t, i) => {
      const bytes = Buffer.from(t);
      if (i % 10 === 0) bytes[100 + (i % 400)]! ^= 0x04;
      try {
        parseTelegram(bytes);
      } catch (error) {
        expect(isGatewayError(error)).toBe(true);
        rejected++;
      }
    });
    expect(rejected).toBe(Math.ceil(telegrams.length / 10));
  });
});
