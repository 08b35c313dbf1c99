/**
 * Paillier decryption at the MDMS. Every ciphertext is validated first (range and coprimality).
 *
 * - `decrypt`: the definition, m = L(c^λ mod n²) · μ mod n with L(x) = (x − 1) / n.
 * - `CrtDecryptor`: Paillier 1999, §7 ("Decryption using Chinese-remaindering"): m_p = L_p(c^(p−1) mod p²)·h_p
 *   mod p and m_q likewise, joined by the CRT. Two exponentiations modulo p² and q² with half-length exponents
 *   instead of one modulo n² with a full-length exponent: about four times less work.
 * Both exponentiate in native code (OpenSSL).
 */
import { modInverse, modPowNative } from '../../../gateway/encrypt/bigint.ts';
import { assertCiphertext } from '../../../gateway/encrypt/paillier.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';

export function decrypt(key: PaillierPrivateKey, c: bigint): bigint {
  const { n, n2 } = key.publicKey;
  assertCiphertext(key.publicKey, c);
  const x = modPowNative(c, key.lambda, n2);
  return (((x - 1n) / n) * key.mu) % n;
}

interface Half {
  prime: bigint;
  square: bigint;
  /** h = L_prime(g^(prime−1) mod prime²)⁻¹ mod prime */
  h: bigint;
}

export class CrtDecryptor {
  private readonly hp: Half;
  private readonly hq: Half;
  /** q⁻¹ mod p */
  private readonly qInv: bigint;

  constructor(readonly key: PaillierPrivateKey) {
    const g = key.publicKey.n + 1n;
    const half = (prime: bigint): Half => {
      const square = prime * prime;
      const l = (modPowNative(g, prime - 1n, square) - 1n) / prime;
      return { prime, square, h: modInverse(l, prime) };
    };
    this.hp = half(key.p);
    this.hq = half(key.q);
    this.qInv = modInverse(key.q, key.p);
  }

  decrypt(c: bigint): bigint {
    assertCiphertext(this.key.publicKey, c);
    const part = ({ prime, square, h }: Half) =>
      (((modPowNative(c % square, prime - 1n, square) - 1n) / prime) * h) % prime;
    const mp = part(this.hp);
    const mq = part(this.hq);
    // Garner: m = mq + q · ((mp − mq) · q⁻¹ mod p)
    const { p, q } = this.key;
    const diff = (((mp - mq) % p) + p) % p;
    return mq + q * ((diff * this.qInv) % p);
  }
}
