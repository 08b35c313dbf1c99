/** CRC-16/X-25 against its catalogue check value and against CRCs read by hand from the capture's first file. */
import { describe, expect, it } from 'vitest';
import { crc16X25, swapBytes16 } from '../../../drivers/sml/crc16-x25.ts';
import { fixture } from './sml-fixtures.ts';

describe('crc16X25', () => {
  it('has the catalogue check value 0x906E over "123456789"', () => {
    expect(crc16X25(Buffer.from('123456789'))).toBe(0x906e);
  });

  it('matches the transport CRC of the first captured file, sent low byte first (… 1a 01 39 36)', () => {
    const file = fixture('ttyUSB0-frames-0-2.dump').subarray(0, 324);
    expect(file.subarray(320).toString('hex')).toBe('1a013936');
    expect(crc16X25(file, 0, 322)).toBe(0x3639);
  });

  it("matches the first message's crc16 field (63 7e b7), also low byte first", () => {
    const file = fixture('ttyUSB0-frames-0-2.dump');
    // The SML_PublicOpen.Res runs from byte 8 to the crc16 field's TL byte at 0x2b.
    expect(file.subarray(0x2b, 0x2e).toString('hex')).toBe('637eb7');
    expect(crc16X25(file, 8, 0x2b)).toBe(0xb77e);
    expect(swapBytes16(0xb77e)).toBe(0x7eb7);
  });

  it('covers a sub-range only', () => {
    const data = Buffer.from('xx123456789yy');
    expect(crc16X25(data, 2, 11)).toBe(0x906e);
    expect(crc16X25(Buffer.alloc(0))).toBe(0x0000);
  });
});
