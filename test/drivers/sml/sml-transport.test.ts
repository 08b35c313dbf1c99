/**
 * Transport version 1 on its own: escaping and unescaping agree for any payload, including runs of 0x1b next to
 * the end sequence, and the one payload the reader would take for a new start is refused by the writer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { START, nextEscape, unwrapTransport, wrapTransport } from '../../../drivers/sml/sml-transport.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { fixture } from './sml-fixtures.ts';

describe('SML transport v1', () => {
  it('unwraps a captured file to its messages (padding stripped)', () => {
    const file = fixture('ttyUSB0-frames-0-2.dump').subarray(0, 324);
    const messages = unwrapTransport(file);
    expect(messages.length).toBe(324 - 16 - 1);
    expect(messages[0]).toBe(0x76);
    expect(messages.at(-1)).toBe(0x00);
    expect(wrapTransport(messages).equals(file)).toBe(true);
  });

  it('doubles 1b1b1b1b in the data and pads to a multiple of four', () => {
    const file = wrapTransport(Buffer.from('001b1b1b1b02', 'hex'));
    // start | 00 1b1b1b1b (doubled) 02 | 2 padding bytes | end, padding count 2 | CRC
    expect(file.subarray(0, -2).toString('hex')).toBe(
      '1b1b1b1b01010101' + '001b1b1b1b1b1b1b1b02' + '0000' + '1b1b1b1b1a02',
    );
    expect(unwrapTransport(file).toString('hex')).toBe('001b1b1b1b02');
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 13])(
    'reads back data ending in %i × 0x1b right before the end',
    (n) => {
      const payload = Buffer.concat([Buffer.from('7101', 'hex'), Buffer.alloc(n, 0x1b)]);
      expect(unwrapTransport(wrapTransport(payload)).equals(payload)).toBe(true);
    },
  );

  it('round-trips any payload without four 0x1b followed by 01010101', () => {
    const byte = fc.oneof(fc.constantFrom(0x1b, 0x1b, 0x1b, 0x01, 0x1a, 0x00), fc.nat(255));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 200 }), (bytes) => {
        const payload = Buffer.from(bytes);
        fc.pre(!payload.includes(START));
        const file = wrapTransport(payload);
        expect(file.length % 4).toBe(0);
        expect(unwrapTransport(file).equals(payload)).toBe(true);
      }),
      { numRuns: fuzzRuns(3000) },
    );
  });

  it('refuses to wrap 1b1b1b1b 01010101, which reads as a start sequence', () => {
    expect(() => wrapTransport(Buffer.from('001b1b1b1b1b01010101', 'hex'))).toThrow(RangeError);
  });

  it('finds a start sequence at the end of any run of 0x1b', () => {
    for (let run = 4; run < 30; run++) {
      const bytes = Buffer.concat([Buffer.from([0x42]), Buffer.alloc(run, 0x1b), START.subarray(4)]);
      let event = nextEscape(bytes, 0);
      while (event.kind === 'data') event = nextEscape(bytes, event.at + 8);
      expect(event, `run ${run}`).toEqual({ kind: 'start', at: 1 + run - 4 });
    }
  });

  it('rejects a file cut by a new start, one without an end and one with an unknown escape', () => {
    const file = wrapTransport(Buffer.from('76010203', 'hex'));
    expectCode('FRAME_TRUNCATED', () => unwrapTransport(Buffer.concat([file.subarray(0, 10), file])));
    expectCode('FRAME_TRUNCATED', () => unwrapTransport(file.subarray(0, file.length - 1)));
    expectCode('FRAME_MALFORMED', () =>
      unwrapTransport(Buffer.concat([START, Buffer.from('1b1b1b1b02000000', 'hex')])),
    );
  });
});
