/**
 * Packing several counters into one Paillier plaintext: slot 0 holds total Wh, slot 1+b the Wh of tariff band b.
 * Slot i occupies bits [i·w, (i+1)·w). Adding packed plaintexts adds every slot at once, provided no slot's sum
 * exceeds 2^w − 1: a carry into the next slot would corrupt it and leak information. So w is sized from the
 * largest reading times the largest number of readings ever summed into one ciphertext, and readings above the
 * bound are rejected before encryption.
 */
import { GatewayError } from '../errors.ts';
import { bitLength } from './bigint.ts';

export interface PackingLayout {
  /** Bits per slot. */
  readonly slotBits: number;
  /** Slot names: "total" then the band names. */
  readonly slots: readonly string[];
}

export interface PackingBounds {
  maxWhPerReading: number;
  /** The most readings any one ciphertext sum may contain (neighbourhood size or readings per billing period). */
  maxAddends: number;
  bands: readonly string[];
  /** Bit length of the Paillier modulus n. */
  modulusBits: number;
}

export function layoutFor(bounds: PackingBounds): PackingLayout {
  const maxSlotValue = BigInt(bounds.maxWhPerReading) * BigInt(bounds.maxAddends);
  const slotBits = bitLength(maxSlotValue);
  const slots = ['total', ...bounds.bands];
  // Keep the packed value below n / 2 so it can never wrap modulo n.
  if (slotBits * slots.length > bounds.modulusBits - 2) {
    throw new GatewayError(
      'PACKING_OVERFLOW',
      `${slots.length} slots of ${slotBits} bits do not fit a ${bounds.modulusBits}-bit modulus; ` +
        'lower encryption.maxWhPerReading, encryption.maxMetersPerNeighbourhood, buffer.maxReadingAgeDays ' +
        'or the number of bands, or use a larger key',
    );
  }
  return { slotBits, slots };
}

/** Packs one value per slot; each must already be within 0..2^slotBits − 1. */
export function pack(layout: PackingLayout, values: readonly bigint[]): bigint {
  if (values.length !== layout.slots.length) throw new RangeError('one value per slot expected');
  const limit = 1n << BigInt(layout.slotBits);
  let packed = 0n;
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i]!;
    if (v < 0n || v >= limit)
      throw new GatewayError('PACKING_OVERFLOW', `slot ${layout.slots[i]} out of range`);
    packed = (packed << BigInt(layout.slotBits)) | v;
  }
  return packed;
}

export function unpack(layout: PackingLayout, packed: bigint): bigint[] {
  const mask = (1n << BigInt(layout.slotBits)) - 1n;
  const values: bigint[] = [];
  for (let i = 0; i < layout.slots.length; i++) {
    values.push((packed >> BigInt(i * layout.slotBits)) & mask);
  }
  if (packed >> BigInt(layout.slots.length * layout.slotBits) !== 0n) {
    throw new GatewayError('PACKING_OVERFLOW', 'plaintext has bits above the last slot');
  }
  return values;
}

/**
 * A cost-only bill's plaintext (gateway/aggregate/bill-cost.ts): the cost in bits [0, W), zeros in the next
 * COST_GUARD_BITS bits, and statistically masked values above them. The zeros let a receiver notice a wrong key
 * or a corrupted ciphertext (a random plaintext has them all zero with probability 2^−32).
 */
export const COST_GUARD_BITS = 32;

/** The masked part above the guard bits has at least this many bits more than what it hides. */
export const MASK_MARGIN_BITS = 128;

/** The cost in the low `costBits` bits of a cost-only bill's plaintext, after checking its guard bits. */
export function decodeCost(plaintext: bigint, costBits: number): bigint {
  const guard = (plaintext >> BigInt(costBits)) & ((1n << BigInt(COST_GUARD_BITS)) - 1n);
  if (guard !== 0n) {
    throw new GatewayError(
      'CIPHERTEXT_INVALID',
      'cost-only bill: the guard bits above the cost are not zero',
    );
  }
  return plaintext & ((1n << BigInt(costBits)) - 1n);
}
