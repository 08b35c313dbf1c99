/**
 * Reading a noisy neighbourhood release (aggregate record v2, docs/protocol.md §Aggregate): the value in bits
 * [shift, shift + bits) of the plaintext minus the offset B is Σ min(wh, clipWh) + η, η discrete Gaussian with the
 * record's σ². The MDMS stores it with the half-width of its 95 % interval, 1.96σ: the discrete Gaussian's
 * quantiles are the normal's to within a unit at the σ of any useful release (σ ≫ 1 Wh).
 */
import { bound95 } from '../../../gateway/aggregate/noise-plan.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { decodeRelease } from '../../../gateway/encrypt/packing.ts';
import type { AggregateRecordMsg } from '../../../gateway/protocol/messages.ts';

export interface OpenedRelease {
  /** Σ min(wh, clipWh) + η, in Wh; may be negative. */
  total: number;
  bound95: number;
}

/** Refuses (MESSAGE_MALFORMED) a release field that would not fit below n / 2 of a `modulusBits`-bit key. */
export function checkReleaseFits(r: AggregateRecordMsg, modulusBits: number): void {
  if (r.release.shift + r.release.bits > modulusBits - 2) {
    throw new GatewayError(
      'MESSAGE_MALFORMED',
      `aggregate ${r.id}: a release field at bits [${r.release.shift}, ${r.release.shift + r.release.bits}) ` +
        `does not fit a ${modulusBits}-bit key`,
    );
  }
}

export function openRelease(r: AggregateRecordMsg, plaintext: bigint): OpenedRelease {
  const offset = BigInt(r.noise.offset);
  const value = decodeRelease(plaintext, r.release, offset);
  // Σ min(wh, clipWh) ∈ [0, meters·clipWh] and |η| ≤ B: anything else is a wrong key or a corrupted record.
  const most = BigInt(r.meters) * BigInt(r.noise.clipWh) + offset;
  if (value < -offset || value > most || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GatewayError(
      'CIPHERTEXT_INVALID',
      `aggregate ${r.id}: the release is outside its possible range`,
    );
  }
  const [num, den] = r.noise.sigma2.split('/').map((x) => BigInt(x));
  return { total: Number(value), bound95: bound95({ sigma2: { num: num!, den: den! } }) };
}
