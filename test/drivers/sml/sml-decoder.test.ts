/**
 * The TLV decoder on hand-written elements (each one taken from the captures where they have it) and on
 * malformed and random input, which must only ever end in FRAME_MALFORMED.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { decodeNode, decodeSmlMessages, type SmlNode } from '../../../drivers/sml/sml-decoder.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { expectCode } from '../../helpers/expect-code.ts';

function decode(hex: string): SmlNode {
  const data = Buffer.from(hex.replace(/\s/g, ''), 'hex');
  const node = decodeNode(data, 0, 0);
  expect(node.end).toBe(data.length);
  return node;
}

describe('decodeNode', () => {
  it('reads the scalar types of the captures', () => {
    expect(decode('62 1e')).toMatchObject({ type: 'uint', value: 30n, size: 1 });
    expect(decode('52 ff')).toMatchObject({ type: 'int', value: -1n, size: 1 });
    expect(decode('59 00000000 0000aad2')).toMatchObject({ type: 'int', value: 43730n, size: 8 });
    expect(decode('65 0000002a')).toMatchObject({ type: 'uint', value: 42n, size: 4 });
    // Status words come as 3-byte unsigned.
    expect(decode('64 010190')).toMatchObject({ type: 'uint', value: 0x010190n, size: 3 });
    expect(decode('55 ffffff85')).toMatchObject({ type: 'int', value: -123n });
    expect(decode('42 01')).toMatchObject({ type: 'bool', value: true });
    expect(decode('42 00')).toMatchObject({ type: 'bool', value: false });
  });

  it('reads octet strings, the empty one (01) that marks an absent field, and endOfSmlMsg (00)', () => {
    const manufacturer = decode('04 444e54');
    expect(manufacturer.type === 'octets' && manufacturer.bytes.toString()).toBe('DNT');
    const absent = decode('01');
    expect(absent.type === 'octets' && absent.bytes.length).toBe(0);
    expect(decode('00')).toMatchObject({ type: 'endOfMessage' });
  });

  it('reads a multi-byte TL: 83 02 is an octet string of 0x32 = 50 bytes, TL included (the public key)', () => {
    const node = decode(`8302${'ab'.repeat(48)}`);
    expect(node.type === 'octets' && node.bytes.length).toBe(48);
  });

  it('reads lists, whose length counts elements, also with a multi-byte TL', () => {
    const pair = decode('72 6201 650000002a');
    expect(pair.type === 'list' && pair.items.map((i) => i.type)).toEqual(['uint', 'uint']);
    const long = decode(`f101${'01'.repeat(17)}`);
    expect(long.type === 'list' && long.items.length).toBe(17);
  });

  it('gives every node its byte range', () => {
    const node = decode('72 6201 650000002a');
    expect(node.type === 'list' && node.items.map((i) => [i.offset, i.end])).toEqual([
      [1, 3],
      [3, 8],
    ]);
  });

  it.each([
    ['an element running past the end', '65 0000'],
    ['a list with missing elements', '73 6201'],
    ['an integer without bytes', '51'],
    ['an integer of 9 bytes', '6a 000000000000000001'],
    ['a boolean of 2 bytes', '43 0101'],
    ['type 001', '12 00'],
    ['type 011', '32 00'],
    ['a length shorter than the TL bytes', '81 01'],
    ['a TL continuation byte with a type', '81 71 00'],
    ['a TL field of five bytes', '81 80 80 80 01'],
    ['data ending inside the TL field', '81'],
    ['a list claiming more elements than bytes', 'ff ff ff 0f 01'],
  ])('rejects %s as FRAME_MALFORMED', (_what, hex) => {
    expectCode('FRAME_MALFORMED', () => decodeNode(Buffer.from(hex.replace(/\s/g, ''), 'hex'), 0, 0));
  });

  it('rejects lists nested 10 000 deep as FRAME_MALFORMED, not a stack overflow', () => {
    const data = Buffer.concat([Buffer.alloc(10_000, 0x71), Buffer.from([0x01])]);
    expectCode('FRAME_MALFORMED', () => decodeNode(data, 0, 0));
  });
});

describe('decodeSmlMessages', () => {
  it('reads consecutive messages and rejects anything that is not a list', () => {
    expect(decodeSmlMessages(Buffer.from('71017101', 'hex'))).toHaveLength(2);
    expect(decodeSmlMessages(Buffer.alloc(0))).toHaveLength(0);
    expectCode('FRAME_MALFORMED', () => decodeSmlMessages(Buffer.from('710100', 'hex')));
    expectCode('FRAME_MALFORMED', () => decodeSmlMessages(Buffer.from('71016201', 'hex')));
  });

  it('on random bytes either decodes or throws FRAME_MALFORMED, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeSmlMessages(Buffer.from(bytes));
        } catch (error) {
          expect(isGatewayError(error, 'FRAME_MALFORMED'), String(error)).toBe(true);
        }
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });

  it('on list-heavy random bytes (TL types weighted towards lists) never throws anything else', () => {
    const tlByte = fc.oneof(
      fc.integer({ min: 0x70, max: 0x7f }),
      fc.integer({ min: 0xf0, max: 0xff }),
      fc.nat(255),
    );
    fc.assert(
      fc.property(fc.array(tlByte, { maxLength: 400 }), (bytes) => {
        try {
          decodeSmlMessages(Buffer.from(bytes));
        } catch (error) {
          expect(isGatewayError(error, 'FRAME_MALFORMED'), String(error)).toBe(true);
        }
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });
});
