/**
 * The amount due of a cost-only bill, computed on ciphertexts (billing.reveal: cost-only), so that the supplier
 * decrypts the amount and nothing of the band totals it was computed from.
 *
 * A cost-only period keeps one accumulator per tariff band: A_b = Π of its band-b readings' ciphertexts. Each
 * reading of band b is packed as wh·(1 + 2^s_b) with s_b = slotBits·(1 + b) (slot 0 and slot 1 + b,
 * gateway/encrypt/packing.ts), so A_b encrypts x_b·(1 + 2^s_b), x_b being the period's Wh in band b. Raising a
 * ciphertext to a power multiplies its plaintext (Paillier: E(m)^e = E(e·m mod n)). With M = 2^(W + G) and
 *
 *   e_b = p_b · (1 + 2^s_b)⁻¹ mod M        (1 + 2^s_b is odd, so invertible modulo a power of two)
 *
 * e_b·(1 + 2^s_b) = p_b + M·k_b for a whole k_b, and Π_b A_b^e_b encrypts Σ_b p_b·x_b + M·Σ_b k_b·x_b: the cost in
 * its low W bits, G zero "guard" bits, and above them U = Σ_b k_b·x_b, a public combination of the band totals.
 * Multiplying by a fresh encryption of M·R, with R uniform over (bits of the largest U + 128) bits, hides U
 * statistically (distance ≤ 2^−128) and re-randomises the ciphertext. The supplier reads cost = P mod 2^W.
 *
 * The exponents are W + G bits long (about 80), not full-length, and the packing layout is unchanged: the cost
 * never has to fit a slot, so switching modes changes no slot width.
 *
 * Each reading also holds min(wh, clipWh) in its release field at bit s (packing.ts). Raised to e_b, a band's
 * clipped sum c_b lands at e_b·2^s·c_b = M·(e_b·2^(s − W − G)·c_b): a multiple of M as long as s ≥ W + G, so it
 * joins U above the guard bits, U = Σ_b k_b·x_b + Σ_b e_b·2^(s − W − G)·c_b, and the mask R is sized to cover
 * its largest value. A layout with s < W + G would put clipped sums into the cost: refused (PACKING_OVERFLOW).
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { bitLength, fromBytes, modInverse, modPowNative } from '../encrypt/bigint.ts';
import { COST_GUARD_BITS, MASK_MARGIN_BITS } from '../encrypt/packing.ts';
import type { PaillierPublicKey } from '../encrypt/paillier.ts';

export interface CostBounds {
  /** Slot width of the packing layout the readings are encrypted with. */
  slotBits: number;
  /** Price of each band (in layout order) in 10⁻⁶ currency units per kWh, i.e. 10⁻⁹ per Wh. */
  prices: readonly bigint[];
  /** The most Wh one bill can hold: maxWhPerReading × the most readings a bill can hold. */
  maxBillWh: bigint;
  /** Bit length of the Paillier modulus n. */
  modulusBits: number;
  /** s: where the readings' release field starts. */
  releaseShift: number;
  /** The most clipped Wh one bill can hold: clipWh × the most readings a bill can hold. */
  maxBillClippedWh: bigint;
}

/** Everything about the computation that is fixed by the configuration (public, like the prices). */
export interface CostPlan {
  readonly prices: readonly bigint[];
  /** W: the cost Σ p_b·x_b (in 10⁻⁹ currency units) is below 2^W. */
  readonly costBits: number;
  /** e_b per band. */
  readonly exponents: readonly bigint[];
  /** Bits of the mask R. */
  readonly maskBits: number;
}

/** The exponents and the mask width; refuses (PACKING_OVERFLOW) what would not fit below n / 2. */
export function costPlan(b: CostBounds): CostPlan {
  const maxPrice = b.prices.reduce((max, p) => (p > max ? p : max), 0n);
  const costBits = Math.max(1, bitLength(b.maxBillWh * maxPrice));
  const shift = BigInt(costBits + COST_GUARD_BITS);
  const m = 1n << shift;
  let maxK = 0n;
  const exponents = b.prices.map((price, band) => {
    const spread = 1n + (1n << BigInt(b.slotBits * (1 + band)));
    const e = (price * modInverse(spread, m)) % m;
    const k = (e * spread - price) >> shift;
    if (k > maxK) maxK = k;
    return e;
  });
  if (b.releaseShift < costBits + COST_GUARD_BITS) {
    throw new GatewayError(
      'PACKING_OVERFLOW',
      `billing.reveal cost-only: a ${costBits}-bit cost and its guard bits reach past the release field at bit ` +
        `${b.releaseShift}; lower the prices, encryption.maxWhPerReading or buffer.maxReadingAgeDays`,
    );
  }
  const maxE = exponents.reduce((max, e) => (e > max ? e : max), 0n);
  // U = Σ_b k_b·x_b + Σ_b e_b·2^(s−W−G)·c_b ≤ max k_b · maxBillWh + max e_b · 2^(s−W−G) · maxBillClippedWh.
  const maxU = maxK * b.maxBillWh + ((maxE * b.maxBillClippedWh) << (BigInt(b.releaseShift) - shift));
  const maskBits = bitLength(maxU) + MASK_MARGIN_BITS;
  // P = cost + M·(U + R) < M·2^(maskBits + 1).
  const needed = costBits + COST_GUARD_BITS + maskBits + 1;
  if (needed > b.modulusBits - 2) {
    throw new GatewayError(
      'PACKING_OVERFLOW',
      `billing.reveal cost-only: a ${costBits}-bit cost, ${COST_GUARD_BITS} guard bits and a ${maskBits}-bit ` +
        `mask need ${needed} bits, more than a ${b.modulusBits}-bit modulus allows; lower the prices, ` +
        'encryption.maxWhPerReading, buffer.maxReadingAgeDays or the number of bands, or use a larger key',
    );
  }
  return { prices: b.prices, costBits, exponents, maskBits };
}

/** One band's running product of reading ciphertexts in a cost-only period. */
export interface BandAccumulator {
  band: number;
  ciphertext: bigint;
}

export class BillCost {
  constructor(
    readonly plan: CostPlan,
    private readonly key: PaillierPublicKey,
    /** A fresh Paillier encryption (the engine's): it makes the mask and re-randomises the result. */
    private readonly encrypt: (m: bigint) => bigint,
    private readonly random: (size: number) => Buffer = randomBytes,
  ) {}

  /** E(cost + 2^(W+G)·(U + R)) from a period's band accumulators. */
  encryptedCost(accumulators: readonly BandAccumulator[]): bigint {
    const { n2 } = this.key;
    const shift = BigInt(this.plan.costBits + COST_GUARD_BITS);
    let c = this.encrypt(this.mask() << shift);
    for (const { band, ciphertext } of accumulators) {
      const e = this.plan.exponents[band];
      if (e === undefined) {
        throw new GatewayError(
          'CONFIG_INVALID',
          `a cost-only period holds readings of band ${band}, but only ${this.plan.exponents.length} band(s) ` +
            'are configured: do not remove bands while a period is open',
        );
      }
      c = (c * modPowNative(ciphertext, e, n2)) % n2;
    }
    return c;
  }

  /** R, uniform over [0, 2^maskBits). */
  private mask(): bigint {
    const bytes = Math.ceil(this.plan.maskBits / 8);
    return fromBytes(this.random(bytes)) >> BigInt(bytes * 8 - this.plan.maskBits);
  }
}
