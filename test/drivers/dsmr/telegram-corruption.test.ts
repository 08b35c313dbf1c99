/**
 * Corrupted telegrams are rejected with the code that says what went wrong, never with anything but a
 * GatewayError. The expected code of each corruption is worked out here from where it hits the telegram.
 */
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../gateway/errors.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { CRC_CAPTURES, capture, lfToCrlf, type CaptureName } from './dsmr-fixtures.ts';

const isUpperHex = (byte: number): boolean => /^[0-9A-F]$/.test(String.fromCharCode(byte));

/** The code a single bit flip at `at` must produce in a valid CRC telegram. */
function expectedFlipCode(original: Buffer, at: number, flipped: number): ErrorCode {
  const bang = original.indexOf('!');
  const crcEnd = original.indexOf('\r', bang);
  if (at === 0) return 'FRAME_MALFORMED'; // no "/"
  // A new "!" ends the data early: what follows it is not a CRC line.
  if (at < bang) return flipped === 0x21 ? 'FRAME_MALFORMED' : 'FRAME_CHECKSUM';
  if (at === bang) return 'FRAME_TRUNCATED'; // no "!" left
  if (at < crcEnd) return isUpperHex(flipped) ? 'FRAME_CHECKSUM' : 'FRAME_MALFORMED';
  return 'FRAME_MALFORMED'; // CR or LF of the CRC line
}

function flipped(bytes: Buffer, at: number, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ (1 << bit);
  return copy;
}

describe('single bit flips', () => {
  it('every bit of the DSMR 5 telegram: each flip rejected with its code', () => {
    const original = capture('TELEGRAM_V5');
    for (let at = 0; at < original.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = flipped(original, at, bit);
        expectCode(expectedFlipCode(original, at, bad[at]!), () => parseTelegram(bad));
      }
    }
  });

  it.each(CRC_CAPTURES)(
    '%s: every bit of every 5th byte, the first and the last 8 bytes',
    (name: CaptureName) => {
      const original = capture(name);
      const positions = new Set([0, ...Array.from({ length: 8 }, (_, i) => original.length - 1 - i)]);
      for (let at = 3; at < original.length; at += 5) positions.add(at);
      for (const at of positions) {
        for (let bit = 0; bit < 8; bit++) {
          const bad = flipped(original, at, bit);
          expectCode(expectedFlipCode(original, at, bad[at]!), () => parseTelegram(bad));
        }
      }
    },
  );
});

describe('truncation', () => {
  it.each([...CRC_CAPTURES, 'TELEGRAM_V3', 'TELEGRAM_V2_2'] as CaptureName[])(
    '%s: every proper prefix is FRAME_TRUNCATED',
    (name) => {
      const original = capture(name);
      for (let length = 0; length < original.length; length++) {
        expectCode('FRAME_TRUNCATED', () => parseTelegram(original.subarray(0, length)));
      }
    },
  );
});

describe('structure', () => {
  const v5 = capture('TELEGRAM_V5');
  const v3 = capture('TELEGRAM_V3');
  const edit = (bytes: Buffer, from: string, to: string): Buffer =>
    Buffer.from(bytes.toString('latin1').replace(from, to), 'latin1');

  it('lowercase CRC digits are malformed (one bit away from the uppercase ones)', () => {
    expectCode('FRAME_MALFORMED', () => parseTelegram(edit(v5, '!6EEE', '!6eee')));
  });

  it('a CRC of 5 digits, bytes after the CRC line or before the "/" are malformed', () => {
    expectCode('FRAME_MALFORMED', () => parseTelegram(edit(v5, '!6EEE', '!06EEE')));
    expectCode('FRAME_MALFORMED', () => parseTelegram(Buffer.concat([v5, Buffer.from('x')])));
    expectCode('FRAME_MALFORMED', () => parseTelegram(Buffer.concat([v5, v5])));
    expectCode('FRAME_MALFORMED', () => parseTelegram(Buffer.concat([Buffer.from('\r\n'), v5])));
  });

  it('a DSMR 5 telegram without its CRC fails the checksum: version ≥ 4.0 must carry one', () => {
    expectCode('FRAME_CHECKSUM', () => parseTelegram(edit(v5, '!6EEE', '!')));
  });

  it('a telegram whose CRs were lost fails its CRC; one without CRC parses with LF line ends', () => {
    const lf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    expectCode('FRAME_CHECKSUM', () => parseTelegram(lf(v5)));
    expect(parseTelegram(lf(v3))).toEqual(parseTelegram(v3));
    expect(lfToCrlf(lf(v5)).equals(v5)).toBe(true);
  });

  it('no-CRC telegrams are checked by their grammar alone', () => {
    const cases: [string, string][] = [
      ['/ISk5\\2MT382-1000', 'ISk5\\2MT382-1000'], // no "/"
      ['/ISk5\\2MT382-1000', '/I5'], // no 3-letter manufacturer
      ['1-0:1.8.1(12345.678*kWh)', 'hello'], // not OBIS(...)
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.1(12345.678*kWh'], // unbalanced
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.1(12345.678*kWh) '], // text after the groups
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.1(12345.6x8*kWh)'], // a unit without a number
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.1(12345.678*kWh)!'], // "!" inside a line
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.1(12345.678*kWh)\x7f'], // control character
      ['1-0:1.8.1(12345.678*kWh)', '1-0:1.8.256(12345.678*kWh)'], // OBIS group > 255
      ['0-0:96.1.1(', '(1)\r\n0-0:96.1.1('], // a continuation line with nothing to continue
      ['0-1:24.3.0(090212160000)(00)(60)(1)', '0-1:24.3.0(0902121600)(00)(60)(1)'], // profile without a TST
      ['0-1:24.3.0(090212160000)(00)(60)(1)', '0-1:24.3.0(090212160000)(00)(60)(2)'], // z does not fit
    ];
    for (const [from, to] of cases) {
      expectCode('FRAME_MALFORMED', () => parseTelegram(edit(v3, from, to), { mbus: true }));
    }
  });

  it('a clock that is not a TST is malformed; an impossible but well-formed one is passed on', () => {
    const v4 = capture('TELEGRAM_V4_2');
    const noCrc = (b: Buffer): Buffer => edit(edit(b, '!6796', '!'), '1-3:0.2.8(42)', '1-3:0.2.8(30)');
    expectCode('FRAME_MALFORMED', () => parseTelegram(edit(noCrc(v4), '(161113205757W)', '(1611132057W)')));
    const odd = parseTelegram(edit(noCrc(v4), '(161113205757W)', '(002599996099S)'));
    expect(odd.time).toEqual({
      kind: 'local',
      local: { year: 2000, month: 25, day: 99, hour: 99, minute: 60, second: 99, dst: true },
    });
  });
});
