/**
 * The framer cuts raw serial bytes into telegrams: whatever arrives around, between and inside them, each
 * complete telegram comes out byte for byte, each broken one is reported once through onReject, and the stream
 * itself never errors.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TELEGRAM_LENGTH } from '../../../drivers/dsmr/telegram-framer.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { capture, chunked, frame } from './dsmr-fixtures.ts';

const v5 = capture('TELEGRAM_V5');
const v4 = capture('TELEGRAM_V4_2');
const v3 = capture('TELEGRAM_V3');
const v22 = capture('TELEGRAM_V2_2');
const small = capture('TELEGRAM_UNPADDED_CRC');
const codes = (f: { rejects: { code: string }[] }): string[] => f.rejects.map((r) => r.code);

describe('TelegramFramer', () => {
  it('emits each telegram byte for byte, with or without CRC, however the bytes are chunked', () => {
    const stream = Buffer.concat([v5, v3, v4, v22, small]);
    for (const sizes of [[stream.length], [1], [7, 1, 64], [2, 300]]) {
      const f = frame(chunked(stream, sizes));
      expect(f.telegrams).toEqual([v5, v3, v4, v22, small]);
      expect(f.rejects).toEqual([]);
      expect(f.streamErrors).toEqual([]);
    }
  });

  it('drops bytes outside telegrams silently and counts them', () => {
    const noise = Buffer.from('\r\n\x00\xff garbage!! 1-0:1.8.1(000001.000*kWh)\r\n!6EEE\r\n', 'latin1');
    const f = frame([noise, v5, noise, v4, noise]);
    expect(f.telegrams).toEqual([v5, v4]);
    expect(f.rejects).toEqual([]);
    expect(f.framer.discardedBytes).toBe(3 * noise.length);
  });

  it('a telegram cut off by the next "/" is one FRAME_TRUNCATED; the next telegram is intact', () => {
    for (const cut of [1, 10, v5.indexOf('!'), v5.indexOf('!') + 1, v5.length - 1]) {
      const f = frame([v5.subarray(0, cut), v4, v5.subarray(0, cut), v3]);
      expect(codes(f), `cut at ${cut}`).toEqual(['FRAME_TRUNCATED', 'FRAME_TRUNCATED']);
      expect(f.telegrams).toEqual([v4, v3]);
      expect(parseTelegram(f.telegrams[0]!).values.length).toBeGreaterThan(0);
    }
  });

  it('interleaved partial telegrams: every complete one survives, every partial one is counted', () => {
    const parts = [
      v5.subarray(0, 200),
      v4,
      v3.subarray(0, 50),
      v3.subarray(0, 400),
      v5,
      small.subarray(0, 100),
    ];
    const f = frame(chunked(Buffer.concat(parts), [13]));
    expect(f.telegrams).toEqual([v4, v5]);
    // Three cut by a "/", the last one by the end of the input.
    expect(codes(f)).toEqual(['FRAME_TRUNCATED', 'FRAME_TRUNCATED', 'FRAME_TRUNCATED', 'FRAME_TRUNCATED']);
  });

  it('a telegram longer than maxLength is FRAME_TOO_LONG; the buffer never grows past it', () => {
    const f = frame(chunked(Buffer.concat([v5, small, v5, small]), [5, 50]), { maxLength: 300 });
    expect(codes(f)).toEqual(['FRAME_TOO_LONG', 'FRAME_TOO_LONG']);
    expect(f.telegrams).toEqual([small, small]);
    expect(f.maxBuffered).toBeLessThanOrEqual(300);
  });

  it('a telegram of exactly maxLength is accepted, one byte less is too little', () => {
    expect(frame([v5], { maxLength: v5.length }).telegrams).toEqual([v5]);
    expect(codes(frame([v5], { maxLength: v5.length - 1 }))).toEqual(['FRAME_TOO_LONG']);
    expect(DEFAULT_MAX_TELEGRAM_LENGTH).toBe(8192);
  });

  it('a CRC line without its line end is FRAME_MALFORMED; framing resumes at the next "/"', () => {
    const bad = Buffer.from(v5.toString('latin1').replace('!6EEE\r\n', '!6EEE  and more\r\n'), 'latin1');
    const f = frame([bad, v4]);
    expect(codes(f)).toEqual(['FRAME_MALFORMED']);
    expect(f.telegrams).toEqual([v4]);
  });

  it('input ending inside a telegram is FRAME_TRUNCATED at the end, not before', () => {
    const f = frame([v4, v5.subarray(0, 500)], { end: false });
    expect(f.rejects).toEqual([]);
    expect(f.framer.bufferedLength).toBe(500);
    f.framer.end();
    expect(codes(f)).toEqual(['FRAME_TRUNCATED']);
    expect(f.framer.bufferedLength).toBe(0);
  });

  it('frames LF-only line ends too (the parser then judges the CRC)', () => {
    const lf = Buffer.from(v5.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const f = frame([lf, lf]);
    expect(f.telegrams).toEqual([lf, lf]);
  });
});
