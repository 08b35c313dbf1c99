/**
 * Two-of-two additive sharing of the Paillier decryption exponent (docs/key-ceremony.md).
 *
 * With g = n + 1, any d with d ≡ 0 (mod λ) and d ≡ 1 (mod n) decrypts: c = (1+n)^m·r^n gives
 * c^d = (1+n)^(m·d)·r^(n·d) = (1+n)^m = 1 + m·n (mod n²), because λ | d kills r^(n·d) and (1+n) has order n.
 * d = λ·(λ⁻¹ mod n) is such a d. It is split as d = d_s + d_a with d_a uniform over [0, 2^(bits(n²)+128)):
 * d < n², so d_s = d − d_a (almost always negative) is within 2^−128 in statistical distance of −d_a, and either
 * share alone says nothing about d, hence nothing about λ or the factors of n.
 *
 * Each holder raises a ciphertext to its share (a "partial decryption", c^share mod n²); the product of both
 * partials is c^d = 1 + m·n. One partial alone is c^(±share), a value from which m cannot be read.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../../gateway/errors.ts';
import { bitLength, fromBytes, modInverse, modPowNative } from '../../../gateway/encrypt/bigint.ts';
import { assertCiphertext, type PaillierPublicKey } from '../../../gateway/encrypt/paillier.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';

/** Statistical hiding margin of the authority's share over d, in bits. */
export const SHARE_MARGIN_BITS = 128;

export type ShareRole = 'supplier' | 'authority';

export interface KeyShare {
  readonly role: ShareRole;
  readonly publicKey: PaillierPublicKey;
  /** The share of d; the supplier's is negative (it then exponentiates c⁻¹). */
  readonly share: bigint;
}

/** Splits a whole key's decryption exponent; the caller must then forget the whole key (p, q, λ, μ). */
export function splitKey(
  key: PaillierPrivateKey,
  random: (size: number) => Buffer = randomBytes,
): { supplier: KeyShare; authority: KeyShare } {
  const { n, n2 } = key.publicKey;
  const d = key.lambda * modInverse(key.lambda, n);
  const bits = bitLength(n2) + SHARE_MARGIN_BITS;
  const bytes = Math.ceil(bits / 8);
  const authority = fromBytes(random(bytes)) >> BigInt(bytes * 8 - bits);
  return {
    supplier: { role: 'supplier', publicKey: key.publicKey, share: d - authority },
    authority: { role: 'authority', publicKey: key.publicKey, share: authority },
  };
}

/** c^share mod n², for a validated ciphertext c. */
export function partialDecrypt(share: KeyShare, c: bigint): bigint {
  const { n2 } = share.publicKey;
  assertCiphertext(share.publicKey, c);
  if (share.share >= 0n) return modPowNative(c, share.share, n2);
  return modPowNative(modInverse(c, n2), -share.share, n2);
}

/**
 * The plaintext from both partials: L(Π partials mod n²) with L(x) = (x − 1) / n. A product that is not
 * ≡ 1 (mod n) cannot come from two correct partials: CIPHERTEXT_INVALID (a wrong or corrupted partial).
 */
export function combinePartials(publicKey: PaillierPublicKey, partials: readonly bigint[]): bigint {
  const { n, n2 } = publicKey;
  let x = 1n;
  for (const p of partials) {
    if (p <= 0n || p >= n2) throw new GatewayError('CIPHERTEXT_INVALID', 'partial decryption out of range');
    x = (x * p) % n2;
  }
  if (x % n !== 1n) {
    throw new GatewayError('CIPHERTEXT_INVALID', 'the partial decryptions do not combine to a plaintext');
  }
  return (x - 1n) / n;
}
