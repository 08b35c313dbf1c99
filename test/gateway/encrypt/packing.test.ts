/**
 * Packed plaintexts: slot widths sized from the configured bounds, so that summing up to `maxAddends` readings
 * never carries into the next slot (a carry would corrupt a slot and leak information).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../gateway/errors.ts';
import {
  decodeRelease,
  layoutFor,
  pack,
  packReading,
  unpack,
  type PackingLayout,
} from '../../../gateway/encrypt/packing.ts';
import { RELEASE_BOUNDS } from '../../helpers/packing.ts';

const BANDS = ['peak', 'offpeak'];

function expectOverflow(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isGatewayError(caught, 'PACKING_OVERFLOW'), String(caught)).toBe(true);
}

/** A layout of `slots` slots of `bits` bits, built through layoutFor (maxWh = 2^bits − 1, one addend). */
function layoutOf(bits: number, bands: readonly string[]): PackingLayout {
  return layoutFor({
    maxWhPerReading: 2 ** bits - 1,
    maxAddends: 1,
    bands,
    ...RELEASE_BOUNDS,
    modulusBits: 2048,
  });
}

describe('layoutFor', () => {
  it('sizes a slot to hold maxWhPerReading × maxAddends and names total then the bands', () => {
    // 20 000 Wh × 10 000 meters = 200 000 000 < 2^28 = 268 435 456, and ≥ 2^27 = 134 217 728.
    const layout = layoutFor({
      maxWhPerReading: 20_000,
      maxAddends: 10_000,
      bands: BANDS,
      ...RELEASE_BOUNDS,
      modulusBits: 3072,
    });
    expect(layout.slotBits).toBe(28);
    expect(layout.slots).toEqual(['total', 'peak', 'offpeak']);
  });

  it('gives an exact power of two one more bit than the power below it', () => {
    expect(
      layoutFor({ maxWhPerReading: 1, maxAddends: 1, bands: [], ...RELEASE_BOUNDS, modulusBits: 2048 })
        .slotBits,
    ).toBe(1);
    expect(
      layoutFor({ maxWhPerReading: 255, maxAddends: 1, bands: [], ...RELEASE_BOUNDS, modulusBits: 2048 })
        .slotBits,
    ).toBe(8);
    expect(
      layoutFor({ maxWhPerReading: 256, maxAddends: 1, bands: [], ...RELEASE_BOUNDS, modulusBits: 2048 })
        .slotBits,
    ).toBe(9);
    expect(
      layoutFor({ maxWhPerReading: 16, maxAddends: 16, bands: [], ...RELEASE_BOUNDS, modulusBits: 2048 })
        .slotBits,
    ).toBe(9);
  });

  it('does not lose precision for bounds whose product exceeds 2^53', () => {
    // 1e9 × 1e8 = 1e17 > Number.MAX_SAFE_INTEGER; 2^56 ≈ 7.2e16 < 1e17 < 2^57.
    const layout = layoutFor({
      maxWhPerReading: 1_000_000_000,
      maxAddends: 100_000_000,
      bands: [],
      ...RELEASE_BOUNDS,
      modulusBits: 2048,
    });
    expect(layout.slotBits).toBe(57);
  });

  it('keeps every plaintext below n/2: slots, mask and release field may reach modulusBits − 2, no more', () => {
    // 3 slots of 28 bits = 84 bits; the release field starts at s = 84 + 128 + 2 = 214. A bill's release field
    // holds 10 000 clipped readings of ≤ 5 000 Wh (5·10^7 < 2^26) under a 26 + 128-bit mask: it ends below bit
    // 214 + 26 + 128 + 1 = 369, so 371 bits are needed. A release needs 214 + bitLength(5·10^6 + 2·10^5) = 237.
    const bounds = { maxWhPerReading: 20_000, maxAddends: 10_000, bands: BANDS, ...RELEASE_BOUNDS };
    const layout = layoutFor({ ...bounds, modulusBits: 371 });
    expect(layout.slotBits).toBe(28);
    expect(layout.releaseShift).toBe(214);
    expectOverflow(() => layoutFor({ ...bounds, modulusBits: 370 }));
    // A release field wider than the bill's (a huge noise bound) is what must fit then.
    expectOverflow(() => layoutFor({ ...bounds, noiseBound: 1n << 200n, modulusBits: 371 }));
  });

  it('packs a reading: Wh in the total and its band, min(Wh, clipWh) in the release field', () => {
    const layout = layoutFor({
      maxWhPerReading: 20_000,
      maxAddends: 10,
      bands: BANDS,
      ...RELEASE_BOUNDS,
      modulusBits: 1024,
    });
    const small = packReading(layout, 1234n, 1);
    expect(unpack(layout, small, layout.releaseShift)).toEqual([1234n, 0n, 1234n]);
    expect(decodeRelease(small, { shift: layout.releaseShift, bits: 20 }, 0n)).toBe(1234n);
    const big = packReading(layout, 12_345n, 0);
    expect(unpack(layout, big, layout.releaseShift)).toEqual([12_345n, 12_345n, 0n]);
    expect(decodeRelease(big, { shift: layout.releaseShift, bits: 20 }, 0n)).toBe(
      BigInt(RELEASE_BOUNDS.clipWh),
    );
    // Without the release shift, the field counts as bits above the last slot; a bit in the gap always does.
    expectOverflow(() => unpack(layout, small));
    expectOverflow(() =>
      unpack(layout, small | (1n << BigInt(layout.releaseShift - 1)), layout.releaseShift),
    );
  });

  it('refuses (PACKING_OVERFLOW) bounds whose slots do not fit a 2048-bit modulus', () => {
    const bands = Array.from({ length: 8 }, (_, i) => `band${i}`);
    // 1e9 ≈ 2^29.9 Wh × 2^200 addends needs 230 bits per slot; 9 slots × 230 = 2070 > 2046.
    expectOverflow(() =>
      layoutFor({
        maxWhPerReading: 1_000_000_000,
        maxAddends: 2 ** 200,
        bands,
        ...RELEASE_BOUNDS,
        modulusBits: 2048,
      }),
    );
    // The default bounds with the most bands allowed fit easily.
    expect(() =>
      layoutFor({ maxWhPerReading: 20_000, maxAddends: 10_000, bands, ...RELEASE_BOUNDS, modulusBits: 2048 }),
    ).not.toThrow();
  });
});

describe('pack / unpack', () => {
  const layout = layoutOf(16, BANDS);
  const max = (1n << 16n) - 1n;

  it('puts slot i at bits [i·w, (i+1)·w)', () => {
    expect(pack(layout, [1n, 0n, 0n])).toBe(1n);
    expect(pack(layout, [0n, 1n, 0n])).toBe(1n << 16n);
    expect(pack(layout, [0n, 0n, 1n])).toBe(1n << 32n);
    expect(pack(layout, [0x1234n, 0xabcdn, 0x0f0fn])).toBe(0x0f0f_abcd_1234n);
  });

  it('round-trips slots at their maximum and minimum values', () => {
    expect(pack(layout, [max, max, max])).toBe((1n << 48n) - 1n);
    expect(unpack(layout, (1n << 48n) - 1n)).toEqual([max, max, max]);
    expect(unpack(layout, pack(layout, [0n, max, 0n]))).toEqual([0n, max, 0n]);
    expect(unpack(layout, 0n)).toEqual([0n, 0n, 0n]);
  });

  it('rejects a slot value out of range (PACKING_OVERFLOW) and the wrong number of slots', () => {
    expectOverflow(() => pack(layout, [max + 1n, 0n, 0n]));
    expectOverflow(() => pack(layout, [0n, 0n, max + 1n]));
    expectOverflow(() => pack(layout, [0n, -1n, 0n]));
    expect(() => pack(layout, [0n, 0n])).toThrow(RangeError);
    expect(() => pack(layout, [0n, 0n, 0n, 0n])).toThrow(RangeError);
  });

  it('rejects a plaintext with bits above the last slot (a sum that overflowed)', () => {
    expectOverflow(() => unpack(layout, 1n << 48n));
    expectOverflow(() => unpack(layout, (1n << 48n) + 5n));
    // The carry of two maximal packed values lands exactly there.
    expectOverflow(() => unpack(layout, pack(layout, [0n, 0n, max]) + pack(layout, [0n, 0n, 1n])));
  });
});

describe('properties', () => {
  const layoutArb = fc
    .record({ bits: fc.integer({ min: 1, max: 64 }), bands: fc.integer({ min: 0, max: 8 }) })
    .map(({ bits, bands }) =>
      layoutOf(
        bits,
        Array.from({ length: bands }, (_, i) => `b${i}`),
      ),
    );

  const slotValues = (layout: PackingLayout) =>
    fc.array(fc.bigInt({ min: 0n, max: (1n << BigInt(layout.slotBits)) - 1n }), {
      minLength: layout.slots.length,
      maxLength: layout.slots.length,
    });

  it('unpack(pack(v)) = v', () => {
    fc.assert(
      fc.property(
        layoutArb.chain((layout) => fc.tuple(fc.constant(layout), slotValues(layout))),
        ([layout, values]) => {
          expect(unpack(layout, pack(layout, values))).toEqual(values);
        },
      ),
    );
  });

  it('pack(a) + pack(b) = pack(a + b) slot-wise while every sum stays within its slot', () => {
    // b_i is drawn within what a_i leaves free in its slot.
    const arb = layoutArb.chain((layout) =>
      slotValues(layout).chain((a) => {
        const limit = (1n << BigInt(layout.slotBits)) - 1n;
        const b = fc.tuple(...a.map((v) => fc.bigInt({ min: 0n, max: limit - v })));
        return fc.tuple(fc.constant(layout), fc.constant(a), b);
      }),
    );
    fc.assert(
      fc.property(arb, ([layout, a, b]) => {
        const sum = a.map((v, i) => v + b[i]!);
        expect(pack(layout, a) + pack(layout, b)).toBe(pack(layout, sum));
        expect(unpack(layout, pack(layout, a) + pack(layout, b))).toEqual(sum);
      }),
    );
  });

  it('a sum of maxAddends packed readings, each ≤ maxWhPerReading, never overflows a slot', () => {
    const arb = fc
      .record({
        maxWh: fc.integer({ min: 1, max: 100_000 }),
        maxAddends: fc.integer({ min: 1, max: 40 }),
        bands: fc.integer({ min: 1, max: 4 }),
      })
      .chain(({ maxWh, maxAddends, bands }) =>
        fc.tuple(
          fc.constant({ maxWh, maxAddends, bands }),
          // Each reading: its Wh and its band; the worst case (all at maxWh) is included.
          fc.array(
            fc.tuple(
              fc.oneof(fc.constant(maxWh), fc.integer({ min: 0, max: maxWh })),
              fc.integer({ min: 0, max: bands - 1 }),
            ),
            { minLength: maxAddends, maxLength: maxAddends },
          ),
        ),
      );
    fc.assert(
      fc.property(arb, ([{ maxWh, maxAddends, bands }, readings]) => {
        const names = Array.from({ length: bands }, (_, i) => `b${i}`);
        const layout = layoutFor({
          maxWhPerReading: maxWh,
          maxAddends,
          bands: names,
          ...RELEASE_BOUNDS,
          modulusBits: 2048,
        });
        const expected = new Array<bigint>(bands + 1).fill(0n);
        let packedSum = 0n;
        for (const [wh, band] of readings) {
          const slots = new Array<bigint>(bands + 1).fill(0n);
          slots[0] = BigInt(wh);
          slots[1 + band] = BigInt(wh);
          packedSum += pack(layout, slots);
          expected[0]! += BigInt(wh);
          expected[1 + band]! += BigInt(wh);
        }
        expect(unpack(layout, packedSum)).toEqual(expected);
      }),
    );
  });

  it('all readings at maxWhPerReading in one band fill that slot without carrying', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        (maxWh, maxAddends) => {
          const layout = layoutFor({
            maxWhPerReading: maxWh,
            maxAddends,
            bands: ['x'],
            ...RELEASE_BOUNDS,
            modulusBits: 2048,
          });
          const worst = BigInt(maxWh) * BigInt(maxAddends);
          // The worst-case sum fits, and the slot is no wider than needed (at most one bit to spare).
          expect(worst).toBeLessThan(1n << BigInt(layout.slotBits));
          expect(worst).toBeGreaterThanOrEqual(1n << BigInt(layout.slotBits - 1));
          const sum = pack(layout, [worst, worst]);
          expect(unpack(layout, sum)).toEqual([worst, worst]);
        },
      ),
    );
  });
});
