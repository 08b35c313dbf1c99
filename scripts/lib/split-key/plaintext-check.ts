/**
 * Is a combined plaintext what the gateway encrypted? A plaintext from a wrong or forged partial decryption is
 * uniform modulo n, so it has bits set almost everywhere; a genuine one has a long run of zero bits above its last
 * meaningful bit (docs/protocol.md §5): above the release field of a noisy aggregate, between the last slot and the
 * masked release field of a bands bill, in the guard bits of a cost-only bill. The probability that a uniform value
 * passes is 2^−(zero bits checked), so a record must leave at least MIN_CHECK_BITS zero bits, or it is refused.
 */
import { GatewayError } from '../../../gateway/errors.ts';
import { COST_GUARD_BITS, releaseShiftOf } from '../../../gateway/encrypt/packing.ts';

export const MIN_CHECK_BITS = 32;

/** Where a record's plaintext must be zero: bits [zeroFrom, zeroTo), zeroTo the top of the plaintext if unset. */
export interface PlaintextShape {
  /** The bit above the record's last meaningful bit. */
  readonly zeroFrom: number;
  /** Where a random mask starts above the zero run (bills); unset: the zeros run to the top. */
  readonly zeroTo?: number;
}

/** The half-open [from, to) bit range that must be zero in a genuine plaintext under a modulus of `keyBits`. */
export function zeroRange(shape: PlaintextShape, keyBits: number): [number, number] {
  return [shape.zeroFrom, Math.min(shape.zeroTo ?? keyBits - 1, keyBits - 1)];
}

export function assertGenuinePlaintext(m: bigint, shape: PlaintextShape, keyBits: number): void {
  const [from, to] = zeroRange(shape, keyBits);
  const checked = Math.max(0, to - from);
  if (checked < MIN_CHECK_BITS) {
    throw new GatewayError('CIPHERTEXT_INVALID', `the record leaves only ${checked} zero bits to check`);
  }
  const field = (m >> BigInt(from)) & ((1n << BigInt(checked)) - 1n);
  // A genuine plaintext is below n / 2 (packing.ts), so its top bit is zero too.
  if (field !== 0n || m >> BigInt(keyBits - 1) !== 0n) {
    throw new GatewayError('CIPHERTEXT_INVALID', 'combined plaintext is not genuine: non-zero check bits');
  }
}

/**
 * The shape of a v2 record's plaintext: a noisy aggregate is masked below its release field and zero above it; a
 * bands bill holds its slots in [0, L) and a masked release field from releaseShift up, so only the gap between
 * them is checked; a cost-only bill holds its cost, then COST_GUARD_BITS zeros, then a mask.
 */
export function shapeOf(record: {
  release?: { shift: number; bits: number };
  layout?: { slotBits: number; slots: readonly string[] };
  costBits?: number;
}): PlaintextShape {
  if (record.release) return { zeroFrom: record.release.shift + record.release.bits };
  if (record.costBits !== undefined) {
    return { zeroFrom: record.costBits, zeroTo: record.costBits + COST_GUARD_BITS };
  }
  if (!record.layout)
    throw new GatewayError('MESSAGE_MALFORMED', 'record has neither release, layout nor costBits');
  return {
    zeroFrom: record.layout.slotBits * record.layout.slots.length,
    zeroTo: releaseShiftOf(record.layout),
  };
}
