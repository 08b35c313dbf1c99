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
import { fromBytes, modPowNative, randomUnit } from './bigint.ts';
import type { FixedBaseTable } from './fixed-base.ts';
import type { PaillierPublicKey } from './paillier.ts';
import { RandomStream } from './random-stream.ts';

export interface RandomizerSource {
  /** A fresh randomizer r^n mod n²; never returns the same value twice in practice. */
  next(): bigint;
}

/** NIST SP 800-57 Part 1, Table 2: security strength in bits of an RSA-type modulus. */
export function securityBits(modulusBits: number): number {
  if (modulusBits >= 15360) return 256;
  if (modulusBits >= 7680) return 192;
  if (modulusBits >= 3072) return 128;
  return 112;
}

/** Default short-exponent length: twice the modulus's security level. */
export function defaultExponentBits(modulusBits: number): number {
  return 2 * securityBits(modulusBits);
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
