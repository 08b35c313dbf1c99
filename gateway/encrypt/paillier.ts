/**
 * Paillier with g = n + 1 (Paillier 1999; Damgård–Jurik 2001 §3): the public key is n alone.
 * E(m; r) = (1 + m·n) · r^n mod n², and E(a)·E(b) mod n² = E(a + b mod n).
 */
import { GatewayError } from '../errors.ts';
import { bitLength, gcd } from './bigint.ts';

export interface PaillierPublicKey {
  readonly n: bigint;
  readonly n2: bigint;
  /** Bit length of n. */
  readonly bits: number;
}

export function publicKeyFromN(n: bigint): PaillierPublicKey {
  return { n, n2: n * n, bits: bitLength(n) };
}

/** Homomorphic addition of plaintexts: the product of ciphertexts mod n². */
export function addCiphertexts(key: PaillierPublicKey, ciphertexts: Iterable<bigint>): bigint {
  let acc = 1n;
  for (const c of ciphertexts) acc = (acc * c) % key.n2;
  return acc;
}

/**
 * E(m) = (1 + m·n) · rn mod n² for a randomizer rn = r^n mod n² and 0 ≤ m < n, computed as
 * rn + n · (m · rn mod n) (mod n²), since m·n·rn ≡ n · (m·rn mod n) (mod n²): a reduction modulo n instead of a
 * full multiplication and reduction modulo n² (about 40 % less work for the small packed plaintexts).
 */
export function encryptWith(key: PaillierPublicKey, m: bigint, rn: bigint): bigint {
  const c = rn + key.n * ((m * rn) % key.n);
  return c >= key.n2 ? c - key.n2 : c;
}

/**
 * Validates a ciphertext received from elsewhere: in (0, n²) and coprime to n. A value sharing a factor with n
 * would either reveal the factorisation or is not a ciphertext at all.
 */
export function assertCiphertext(key: PaillierPublicKey, c: bigint): void {
  if (c <= 0n || c >= key.n2) throw new GatewayError('CIPHERTEXT_INVALID', 'ciphertext out of range (0, n²)');
  if (gcd(c, key.n) !== 1n) throw new GatewayError('CIPHERTEXT_INVALID', 'ciphertext not coprime to n');
}
