/** 7-bit characters on 8-bit transports: the parity bit a 7E1 wire carries, and what a 7-bit UART keeps. */
import { describe, expect, it } from 'vitest';
import { sevenBitChars, withParityBit } from '../../../drivers/serial/seven-bit.ts';

describe('seven-bit characters', () => {
  it('puts even parity in bit 7, as a 7E1 line read at 8N1 shows it', () => {
    // "/" = 0x2F has five ones: parity 1. "!" = 0x21 has two: parity 0. NUL has none.
    expect([...withParityBit(Buffer.from('/!\x00\x7f'))]).toEqual([0xaf, 0x21, 0x00, 0xff]);
    expect([...withParityBit(Buffer.from('/!'), 'odd')]).toEqual([0x2f, 0xa1]);
  });

  it('every character of every byte value round-trips, with an even number of ones on the wire', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const wire = withParityBit(all);
    for (const b of wire) {
      let ones = 0;
      for (let x = b; x; x >>= 1) ones += x & 1;
      expect(ones % 2).toBe(0);
    }
    expect([...sevenBitChars(wire)]).toEqual([...all].map((b) => b & 0x7f));
  });
});
