/**
 * Sources of Paillier randomizers, i.e. values r^n mod n² for a uniformly random unit r (the expensive half of an
 * encryption). Randomizers are secret: anyone who knows the one used for a ciphertext can strip it off and read
 * the plaintext. They live in memory only and each is used once.
 *
 * - `full`: r^n for a fresh random r, by OpenSSL's modexp. No assumption beyond Paillier's own (DCRA).
 * - `short-exponent`: Damgård–Jurik–Nielsen (DJN 2010, "A generalization of Paillier's public-key system with
 *   applications to electronic voting", §4.1; Jurik's thesis §2.3.2): fix hs = h^n mod n² for a random square h,
 *   then r^n := hs^a with a random exponent a of only 2λ bits (λ = the key's security level: 224 bits at 2048,
 *   256 at 3072). Security rests on the additional assumption that discrete logarithms with short exponents are as
 *   hard as the generic 2^λ bound (the best known attacks on a 2λ-bit exponent, Pollard's kangaroo and BSGS, cost
 *   2^λ). With a precomputed fixed-base table this is ~20–30 modular multiplications instead of a full modexp.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { fromBytes, modPowNative, randomUnit } from './bigint.ts';
import type { FixedBaseTable } from './fixed-base.ts';
import type { PaillierPublicKey } from './paillier.ts';
import { RandomStream } from './random-stream.ts';

export interface RandomizerSource {
  /** A fresh randomizer r^n mod n²; never returns the same value twice in practice. */
  next(): bigint;
}

/** NIST SP 800-57 Part 1 Rev. 5, Table 2: (modulus bits, security strength) of an RSA-type modulus. */
const STRENGTHS: readonly (readonly [number, number])[] = [
  [1024, 80],
  [2048, 112],
  [3072, 128],
  [7680, 192],
  [15360, 256],
];

/**
 * Security strength λ in bits of a modulus: the table's value at its rows, linearly interpolated between them
 * (rounded down: a size between two rows is credited no more than the line through them), capped at 256.
 */
export function securityBits(modulusBits: number): number {
  const upper = STRENGTHS.findIndex(([bits]) => bits >= modulusBits);
  if (upper === 0) return STRENGTHS[0]![1];
  if (upper < 0) return STRENGTHS[STRENGTHS.length - 1]![1];
  const [b0, s0] = STRENGTHS[upper - 1]!;
  const [b1, s1] = STRENGTHS[upper]!;
  return Math.floor(s0 + ((s1 - s0) * (modulusBits - b0)) / (b1 - b0));
}

/** Default short-exponent length: twice the modulus's security level. */
export function defaultExponentBits(modulusBits: number): number {
  return 2 * securityBits(modulusBits);
}

/**
 * Refuses a configured short-exponent length below 2λ for the key in use: the best attacks on a b-bit exponent
 * (kangaroo, baby-step giant-step) cost 2^(b/2), so fewer bits than 2λ make the randomizers, and with them every
 * ciphertext, weaker than the key (issue #14 C). The schema's 224 is only the floor for the smallest key.
 */
export function checkExponentBits(exponentBits: number | undefined, modulusBits: number): void {
  if (exponentBits === undefined) return;
  const needed = defaultExponentBits(modulusBits);
  if (exponentBits < needed) {
    throw new GatewayError(
      'EXPONENT_TOO_SHORT',
      `encryption.exponentBits: ${exponentBits} is below 2λ = ${needed} for the ${modulusBits}-bit supplier key ` +
        `(λ = ${needed / 2} bits, NIST SP 800-57); set at least ${needed} or leave it unset`,
    );
  }
}

/** A uniformly random exponent of `bits` bits (leading zeros allowed). */
export function randomExponent(bits: number, random: (n: number) => Buffer = randomBytes): bigint {
  const bytes = Math.ceil(bits / 8);
  return fromBytes(random(bytes)) >> BigInt(bytes * 8 - bits);
}

/** hs = h^n mod n² with h = −x² mod n for a random unit x (DJN's choice of h: a random square, negated). */
export function djnBase(key: PaillierPublicKey): bigint {
  const x = randomUnit(key.n);
  const h = key.n - ((x * x) % key.n);
  return modPowNative(h, key.n, key.n2);
}

/** Short-exponent randomizers hs^a from a fixed-base table, with a fresh non-zero a of `exponentBits` bits. */
export class ShortExponentRandomizer implements RandomizerSource {
  private readonly random = new RandomStream();
  private readonly take = (n: number): Buffer => this.random.take(n);

  constructor(
    private readonly table: FixedBaseTable,
    private readonly exponentBits: number,
  ) {}

  next(): bigint {
    let a = 0n;
    while (a === 0n) a = randomExponent(this.exponentBits, this.take);
    return this.table.pow(a);
  }
}

/** Full-length r^n by OpenSSL. */
export class FullRandomizer implements RandomizerSource {
  constructor(private readonly key: PaillierPublicKey) {}

  next(): bigint {
    return modPowNative(randomUnit(this.key.n), this.key.n, this.key.n2);
  }
}
