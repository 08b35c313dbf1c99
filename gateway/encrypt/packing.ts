/**
 * Packing several counters into one Paillier plaintext: slot 0 holds total Wh, slot 1+b the Wh of tariff band b.
 * Slot i occupies bits [i·w, (i+1)·w). Adding packed plaintexts adds every slot at once, provided no slot's sum
 * exceeds 2^w − 1: a carry into the next slot would corrupt it and leak information. So w is sized from the
 * largest reading times the largest number of readings ever summed into one ciphertext, and readings above the
 * bound are rejected before encryption.
 *
 * Above the slots, from bit s = L + MASK_MARGIN_BITS + 2 (L = w·slots), sits the release field: min(wh, clipWh),
 * what a neighbourhood release sums (differential privacy needs a bounded contribution; bills stay exact in the
 * slots). A release masks everything below s with MASK_MARGIN_BITS bits more than the slots can hold and adds the
 * noise in the release field; a bill masks the release field instead (docs/privacy.md §Overflow).
 */
import { GatewayError } from '../errors.ts';
import { bitLength } from './bigint.ts';

export interface PackingLayout {
  /** Bits per slot. */
  readonly slotBits: number;
  /** Slot names: "total" then the band names. */
  readonly slots: readonly string[];
  /** s: the bit where the release field starts. */
  readonly releaseShift: number;
  /** A reading counts at most this much in the release field. */
  readonly clipWh: number;
  /** Bits of the mask a bill adds over its release field (the clipped sum's bits + MASK_MARGIN_BITS). */
  readonly billMaskBits: number;
}

export interface PackingBounds {
  maxWhPerReading: number;
  /** The most readings any one ciphertext sum may contain (neighbourhood size or readings per billing period). */
  maxAddends: number;
  bands: readonly string[];
  /** Bit length of the Paillier modulus n. */
  modulusBits: number;
  /** privacy.noise.clipWh. */
  clipWh: number;
  /** The most meters one release sums. */
  maxMetersPerRelease: number;
  /** B: the noise bound; a release field holds Σ min(wh, clipWh) + B + η ∈ [0, maxMeters·clipWh + 2B]. */
  noiseBound: bigint;
}

export function layoutFor(bounds: PackingBounds): PackingLayout {
  const maxSlotValue = BigInt(bounds.maxWhPerReading) * BigInt(bounds.maxAddends);
  const slotBits = bitLength(maxSlotValue);
  const slots = ['total', ...bounds.bands];
  const releaseShift = releaseShiftOf({ slotBits, slots });
  // A bill's release field holds up to maxAddends clipped readings plus a mask of MASK_MARGIN_BITS more bits.
  const billMaskBits = bitLength(BigInt(bounds.clipWh) * BigInt(bounds.maxAddends)) + MASK_MARGIN_BITS;
  const billTop = releaseShift + billMaskBits + 1;
  const releaseTop = releaseShift + releaseBits(bounds);
  // Keep every plaintext below n / 2 so it can never wrap modulo n.
  if (Math.max(billTop, releaseTop) > bounds.modulusBits - 2) {
    throw new GatewayError(
      'PACKING_OVERFLOW',
      `${slots.length} slots of ${slotBits} bits, their mask and the release field need ` +
        `${Math.max(billTop, releaseTop)} bits, more than a ${bounds.modulusBits}-bit modulus allows; ` +
        'lower encryption.maxWhPerReading, encryption.maxMetersPerNeighbourhood, buffer.maxReadingAgeDays, ' +
        'privacy.noise.clipWh or the number of bands, raise privacy.noise.epsilonPerDay, or use a larger key',
    );
  }
  return { slotBits, slots, releaseShift, clipWh: bounds.clipWh, billMaskBits };
}

/** w_r: the bits of a release field, Σ min(wh, clipWh) + B + η ≤ maxMeters·clipWh + 2B. */
export function releaseBits(b: Pick<PackingBounds, 'clipWh' | 'maxMetersPerRelease' | 'noiseBound'>): number {
  return bitLength(BigInt(b.clipWh) * BigInt(b.maxMetersPerRelease) + 2n * b.noiseBound);
}

/** One reading's plaintext: wh in slot 0 and in its band's slot, min(wh, clipWh) in the release field. */
export function packReading(layout: PackingLayout, wh: bigint, band: number): bigint {
  const slots = new Array<bigint>(layout.slots.length).fill(0n);
  slots[0] = wh;
  slots[1 + band] = wh;
  const clip = BigInt(layout.clipWh);
  return pack(layout, slots) | ((wh < clip ? wh : clip) << BigInt(layout.releaseShift));
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

/**
 * The slots of a bill's plaintext. Bits from the last slot up to the release field must be zero (a wrong key or a
 * corrupted ciphertext shows there); the release field and its mask, from `releaseShift` up, are ignored.
 */
/** Where a layout's release field starts: what the MDMS computes from a bill's slots (docs/protocol.md §5). */
export function releaseShiftOf(layout: Pick<PackingLayout, 'slotBits' | 'slots'>): number {
  return layout.slotBits * layout.slots.length + MASK_MARGIN_BITS + 2;
}

export function unpack(
  layout: Pick<PackingLayout, 'slotBits' | 'slots'>,
  packed: bigint,
  releaseShift?: number,
): bigint[] {
  const mask = (1n << BigInt(layout.slotBits)) - 1n;
  const values: bigint[] = [];
  for (let i = 0; i < layout.slots.length; i++) {
    values.push((packed >> BigInt(i * layout.slotBits)) & mask);
  }
  const top = BigInt(layout.slots.length * layout.slotBits);
  const guard = packed >> top;
  const above = releaseShift === undefined ? guard : guard & ((1n << (BigInt(releaseShift) - top)) - 1n);
  if (above !== 0n) {
    throw new GatewayError('PACKING_OVERFLOW', 'plaintext has bits above the last slot');
  }
  return values;
}

/** v = ((P >> s) mod 2^w_r) − B: a release's noisy sum of clipped readings (may be negative). */
export function decodeRelease(
  plaintext: bigint,
  release: { shift: number; bits: number },
  offset: bigint,
): bigint {
  return ((plaintext >> BigInt(release.shift)) & ((1n << BigInt(release.bits)) - 1n)) - offset;
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
