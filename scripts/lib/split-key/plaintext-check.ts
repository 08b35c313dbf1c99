/**
 * Is a combined plaintext what the gateway encrypted? A plaintext from a wrong or forged partial decryption is
 * uniform modulo n, so it has bits set almost everywhere; a genuine one has long runs of zero bits where the
 * record's layout leaves room (above its last slot, between the slots and a release field, the guard bits of a
 * cost-only bill). The probability that a uniform value passes is 2^−(zero bits checked), so a record must leave
 * at least MIN_CHECK_BITS zero bits, or it cannot be checked and is refused.
 */
import { GatewayError } from '../../../gateway/errors.ts';
import { COST_GUARD_BITS } from '../../../gateway/encrypt/packing.ts';

export const MIN_CHECK_BITS = 32;

/** The shape of a record's plaintext, as far as the check needs it (all in bits from bit 0). */
export interface PlaintextShape {
  /** Bits of the exact slots: slots × slotBits (a layout) or costBits (a cost-only bill). */
  readonly slotBits: number;
  /** A release field (noisy aggregates): starts at `shift`, `bits` wide; the mask below it ends at slotBits + 128. */
  readonly release?: { shift: number; bits: number };
  /** A random mask above the slots up to the top (cost-only bills, masked bills): only guard bits stay zero. */
  readonly maskedAbove?: { from: number };
}

/** Half-open [from, to) bit ranges that must be zero in a genuine plaintext under a modulus of `keyBits`. */
export function zeroRanges(shape: PlaintextShape, keyBits: number): Array<[number, number]> {
  const top = keyBits - 1;
  if (shape.maskedAbove) return [[shape.slotBits, shape.maskedAbove.from]];
  if (shape.release) return [[shape.release.shift + shape.release.bits, top]];
  return [[shape.slotBits, top]];
}

export function assertGenuinePlaintext(m: bigint, shape: PlaintextShape, keyBits: number): void {
  const ranges = zeroRanges(shape, keyBits);
  const checked = ranges.reduce((sum, [from, to]) => sum + Math.max(0, to - from), 0);
  if (checked < MIN_CHECK_BITS) {
    throw new GatewayError('CIPHERTEXT_INVALID', `the record leaves only ${checked} zero bits to check`);
  }
  for (const [from, to] of ranges) {
    const field = (m >> BigInt(from)) & ((1n << BigInt(to - from)) - 1n);
    // A genuine plaintext is below n / 2 (packing.ts), so its top bit is zero too.
    if (field !== 0n || m >> BigInt(keyBits - 1) !== 0n) {
      throw new GatewayError('CIPHERTEXT_INVALID', 'combined plaintext is not genuine: non-zero check bits');
    }
  }
}

/** The shape of today's records (layout slots; cost-only bills: cost then guard bits), and of noisy ones. */
export function shapeOf(record: {
  layout?: { slotBits: number; slots: readonly string[] };
  costBits?: number;
  release?: { shift: number; bits: number };
}): PlaintextShape {
  if (record.costBits !== undefined) {
    return { slotBits: record.costBits, maskedAbove: { from: record.costBits + COST_GUARD_BITS } };
  }
  if (!record.layout) throw new GatewayError('MESSAGE_MALFORMED', 'record has neither layout nor costBits');
  const slotBits = record.layout.slotBits * record.layout.slots.length;
  return record.release ? { slotBits, release: record.release } : { slotBits };
}
