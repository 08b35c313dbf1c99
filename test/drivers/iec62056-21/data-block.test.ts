/**
 * `parseReadout` on the real captures (test/fixtures/iec62056-21, meter-to-reader bytes) and on corrupted
 * copies of them. Expected numbers were read by hand from the bytes; the value count is re-derived from the file
 * text here, independently of the parser.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockCheck, parseReadout } from '../../../drivers/iec62056-21/data-block.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/iec62056-21');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));
const ISKRA = fixture('testSerialRequestResponseD0WithAck2.d0.bin');
const SIEMENS_BCC = fixture('testSerialRequestResponseD0-20.d0.bin');
const SIEMENS_PLAIN = fixture('testSerialRequestResponseD0WithAck.d0.bin');
const ITRON = fixture('testSerialRequestResponseD0ModeOverwrite.d0.bin');
const EMH = fixture('testSerialResponseD0FastSend.d0.bin');

const STX = 0x02;
const ETX = 0x03;
const local = (year: number, month: number, day: number, hour: number, minute: number, second = 0) => ({
  kind: 'local' as const,
  local: { year, month, day, hour, minute, second },
});

describe('Iskra MT174 mode C readout (valid BCC)', () => {
  const frame = parseReadout(ISKRA, { expectBcc: true });
  const value = (obis: string) => frame.values.find((v) => v.obis === obis);

  it('has a BCC that matches: XOR after STX through ETX is the last byte', () => {
    const stx = ISKRA.indexOf(STX);
    const etx = ISKRA.indexOf(ETX);
    expect(etx).toBe(ISKRA.length - 2);
    expect(blockCheck(ISKRA, stx + 1, etx + 1)).toBe(ISKRA[ISKRA.length - 1]);
    expect(String.fromCharCode(ISKRA[ISKRA.length - 1]!)).toBe('f');
  });

  it('reads identification, serial and the meter clock (0.9.1 201455, 0.9.2 0170318)', () => {
    expect(frame.identification).toBe('/ISk5MT174-0001');
    expect(frame.serial).toBe('63355730');
    expect(frame.time).toEqual(local(2017, 3, 18, 20, 14, 55));
  });

  it('reads the registers as sent', () => {
    expect(value('1-0:1.8.0')).toEqual({ obis: '1-0:1.8.0', value: 8048.375, unit: 'kWh' });
    expect(value('1-0:1.8.1')).toEqual({ obis: '1-0:1.8.1', value: 8048.375, unit: 'kWh' });
    expect(value('1-0:2.8.0')).toEqual({ obis: '1-0:2.8.0', value: 0, unit: 'kWh' });
    expect(value('1-0:1.7.0')).toEqual({ obis: '1-0:1.7.0', value: 0.908, unit: 'kW' });
    // Billing period 9 ("*09") keeps its F group.
    expect(value('1-0:1.8.0*9')).toEqual({ obis: '1-0:1.8.0*9', value: 5862.843, unit: 'kWh' });
  });

  it('attaches the time group of maximum demands', () => {
    expect(value('1-0:1.6.0')).toEqual({
      obis: '1-0:1.6.0',
      value: 2.468,
      unit: 'kW',
      time: local(2017, 3, 10, 9, 30),
    });
    expect(value('1-0:2.6.0')?.time).toEqual(local(2017, 3, 18, 20, 15));
    expect(value('1-0:1.6.0*14')).toEqual({
      obis: '1-0:1.6.0*14',
      value: 3.768,
      unit: 'kW',
      time: local(2016, 1, 6, 17, 30),
    });
  });

  it('keeps ids, clock, billing dates, letter codes and empty values out of the values', () => {
    const obis = frame.values.map((v) => v.obis);
    expect(obis.filter((o) => /:0\.|[A-Z]/.test(o))).toEqual([]);
    expect(value('1-0:1.6.2*9')).toBeUndefined(); // "1-0:1.6.2*09()"
    // Every "1-0:C.D.E*F(number[*unit])" line with C other than 0 is a value, in file order.
    const text = ISKRA.toString('latin1');
    const expected = [...text.matchAll(/^1-0:([1-9]\d*)\.(\d+)\.(\d+)\*(\d+)\(([\d.]+)(?:\*(\w+))?\)/gm)].map(
      (m) => {
        const f = Number(m[4]);
        return `1-0:${m[1]}.${m[2]}.${m[3]}${f === 255 ? '' : `*${f}`}=${Number(m[5])}${m[6] ?? ''}`;
      },
    );
    expect(expected.length).toBe(224);
    expect(frame.values.map((v) => `${v.obis}=${v.value}${v.unit ?? ''}`)).toEqual(expected);
  });

  it('parses the same without the ACK echo the capture carries', () => {
    const echo = Buffer.from('\x06050\r\n', 'latin1');
    const at = ISKRA.indexOf(echo);
    const plain = Buffer.concat([ISKRA.subarray(0, at), ISKRA.subarray(at + echo.length)]);
    expect(parseReadout(plain, { expectBcc: true })).toEqual(frame);
  });
});

describe('Siemens 2WR5 heat meter', () => {
  it('rejects the capture: its BCC 0x58 does not match the computed 0x6F', () => {
    const etx = SIEMENS_BCC.indexOf(ETX);
    expect(SIEMENS_BCC[etx + 1]).toBe(0x58);
    expect(blockCheck(SIEMENS_BCC, SIEMENS_BCC.indexOf(STX) + 1, etx + 1)).toBe(0x6f);
    expectCode('FRAME_CHECKSUM', () => parseReadout(SIEMENS_BCC, { expectBcc: true }));
    // A BCC that is present is checked even where the caller does not require one.
    expectCode('FRAME_CHECKSUM', () => parseReadout(SIEMENS_BCC, { expectBcc: false }));
  });

  it('parses once the BCC is corrected, the same as the unframed variant of the capture', () => {
    const fixed = Buffer.from(SIEMENS_BCC);
    fixed[fixed.length - 1] = 0x6f;
    const frame = parseReadout(fixed, { expectBcc: true });
    expect(frame.identification).toBe('/SIEC2WR5');
    expect(frame.serial).toBe('00010213'); // "0.0(00010213)"
    expect(frame.values.slice(0, 2)).toEqual([
      { obis: '1-0:6.8', value: 29.055, unit: 'MWh' },
      { obis: '1-0:6.26', value: 1589.28, unit: 'm3' },
    ]);
    expect(frame.values.find((v) => v.obis === '1-0:6.8*1')).toEqual({
      obis: '1-0:6.8*1',
      value: 28.086,
      unit: 'MWh',
    });
    // Lists ("088*C&082*C"), dates and empty values are not numbers.
    expect(frame.values.some((v) => v.obis === '1-0:9.4' || v.obis === '1-0:6.36.1')).toBe(false);
    const plain = parseReadout(SIEMENS_PLAIN, { expectBcc: false });
    expect(plain.identification).toBe('/SIE32WR5');
    expect(plain.values).toEqual(frame.values);
  });
});

describe('readouts without BCC', () => {
  it('Itron EM214: echo of "/?!", identification, STX, data lines, "!" and no ETX/BCC', () => {
    const frame = parseReadout(ITRON, { expectBcc: false });
    expect(frame.identification).toBe('/ITR5EM214');
    expect(frame.serial).toBe('1240007670003202');
    expect(frame.time).toBeUndefined();
    expect(frame.values).toEqual([
      { obis: '1-0:1.7.0', value: 0.49, unit: 'kW' },
      { obis: '1-0:2.7.0', value: 0, unit: 'kW' },
      { obis: '1-0:1.8.1', value: 22108.7, unit: 'kWh' },
      { obis: '1-0:1.8.2', value: 0, unit: 'kWh' },
      { obis: '1-0:2.8.1', value: 10452, unit: 'kWh' },
      { obis: '1-0:2.8.2', value: 0, unit: 'kWh' },
      { obis: '1-0:31.7.0', value: 0.8, unit: 'A' },
      { obis: '1-0:51.7.0', value: 0.7, unit: 'A' },
      { obis: '1-0:71.7.0', value: 1.2, unit: 'A' },
    ]);
    // Required to carry a BCC, it is cut short.
    expectCode('FRAME_TRUNCATED', () => parseReadout(ITRON, { expectBcc: true }));
  });

  it('EMH eHZ mode D push, sent twice: each telegram parses', () => {
    const second = EMH.indexOf('/', 1);
    const frames = [EMH.subarray(0, second), EMH.subarray(second)].map((t) =>
      parseReadout(t, { expectBcc: false }),
    );
    for (const [i, frame] of frames.entries()) {
      expect(frame.identification).toBe('/EMH5----eHZ-E0018E');
      expect(frame.serial).toBe('331200-5009810');
      // 96.5.5 (status) and 96.1.255 (an id) are not quantities; 1.8.1 is sent without a unit.
      expect(frame.values).toEqual([
        { obis: '1-0:1.8.1', value: [32942.0231, 32942.0234][i], unit: undefined },
      ]);
    }
    expectCode('FRAME_MALFORMED', () => parseReadout(EMH, { expectBcc: false }));
    expectCode('FRAME_MALFORMED', () => parseReadout(EMH.subarray(0, second), { expectBcc: true }));
  });
});

describe('corrupted readouts', () => {
  const reference = parseReadout(ISKRA, { expectBcc: true });
  const stx = ISKRA.indexOf(STX);
  const etx = ISKRA.indexOf(ETX);

  /** Outcome of parsing: the code of the GatewayError, or "ok" for a frame with the original values. */
  function outcome(bytes: Buffer, expectBcc = true): string {
    try {
      const frame = parseReadout(bytes, { expectBcc });
      expect(frame.values).toEqual(reference.values);
      return 'ok';
    } catch (error) {
      if (!isGatewayError(error)) throw error;
      return error.code;
    }
  }

  it('every single-bit flip inside the checked block is FRAME_CHECKSUM (or MALFORMED where it forges an ETX)', () => {
    const wrong: string[] = [];
    const check = (i: number, bit: number) => {
      const copy = Buffer.from(ISKRA);
      copy[i]! ^= 1 << bit;
      const got = outcome(copy);
      const forged = copy[i] === ETX;
      if (got !== 'FRAME_CHECKSUM' && !(forged && got === 'FRAME_MALFORMED'))
        wrong.push(`${i}:${bit}=${got}`);
    };
    // All eight bits of every seventh byte, one bit of every other byte: 20 000 parses, not 75 000.
    for (let i = stx + 1; i < etx; i++) {
      for (const bit of i % 7 === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [i % 8]) check(i, bit);
    }
    // "C" (0x43) with bit 6 flipped is ETX: the block ends early at a wrong place.
    check(ISKRA.indexOf('0-0:C.1.0') + 4, 6);
    expect(wrong).toEqual([]);
  });

  it('a flip anywhere else is rejected or leaves the values intact, never anything else', () => {
    const outside = [...Array(stx + 1).keys(), etx, etx + 1];
    const seen = new Set<string>();
    for (const i of outside) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(ISKRA);
        copy[i]! ^= 1 << bit;
        seen.add(outcome(copy));
      }
    }
    expect(
      [...seen].every((c) => ['ok', 'FRAME_CHECKSUM', 'FRAME_MALFORMED', 'FRAME_TRUNCATED'].includes(c)),
    ).toBe(true);
    expect(seen.has('FRAME_CHECKSUM')).toBe(true); // a flipped BCC
  });

  it('a readout cut at any point is FRAME_TRUNCATED', () => {
    for (const capture of [ISKRA, SIEMENS_BCC]) {
      for (let n = 0; n < capture.length; n++) {
        expect(outcome(capture.subarray(0, n)), `cut at ${n}`).toBe('FRAME_TRUNCATED');
      }
    }
    for (const capture of [ITRON, SIEMENS_PLAIN]) {
      for (let n = 0; n < capture.length; n++) {
        expect(outcome(capture.subarray(0, n), false), `cut at ${n}`).toBe('FRAME_TRUNCATED');
      }
    }
  });

  it('garbage before, inside or after is rejected with a FRAME code', () => {
    const garbage = Buffer.from([0x00, 0xff, 0x7e, 0x02, 0x03, 0x21, 0x28]);
    expect(outcome(Buffer.concat([garbage, ISKRA]))).toBe('FRAME_MALFORMED');
    expect(outcome(Buffer.concat([ISKRA, garbage]))).toBe('FRAME_MALFORMED');
    const inside = Buffer.concat([ISKRA.subarray(0, 500), garbage, ISKRA.subarray(500)]);
    expect(outcome(inside)).toMatch(/^FRAME_(CHECKSUM|MALFORMED)$/);
    expect(outcome(Buffer.alloc(0))).toBe('FRAME_TRUNCATED');
    expectCode('FRAME_TOO_LONG', () => parseReadout(ISKRA, { expectBcc: true, maxBytes: 9000 }));
  });

  it('a structurally bad block with a valid BCC is FRAME_MALFORMED', () => {
    const block = (body: string) => {
      const bytes = Buffer.from(`/ABC5x\r\n\x02${body}\x03\x00`, 'latin1');
      bytes[bytes.length - 1] = blockCheck(bytes, bytes.indexOf(STX) + 1, bytes.length - 1);
      return bytes;
    };
    expect(parseReadout(block('1.8.0(1*kWh)\r\n!\r\n'), { expectBcc: true }).values).toEqual([
      { obis: '1-0:1.8.0', value: 1, unit: 'kWh' },
    ]);
    for (const body of [
      '1.8.0(1*kWh\r\n!\r\n',
      '1.8.0(1*kWh)\r\n',
      '1.8.0 1\r\n!\r\n',
      '1.8.0(1)\r!\r\n',
      '1.8.0(\x7f)\r\n!\r\n',
    ]) {
      expectCode('FRAME_MALFORMED', () => parseReadout(block(body), { expectBcc: true }));
    }
  });
});
