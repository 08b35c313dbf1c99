/**
 * Paillier decryption at the MDMS: m = L(c^λ mod n²) · μ mod n with L(x) = (x − 1) / n, the exponentiation done
 * natively. Every ciphertext is validated first (range and coprimality).
 */
import { modPowNative } from '../../../gateway/encrypt/bigint.ts';
import { assertCiphertext } from '../../../gateway/encrypt/paillier.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';

export function decrypt(key: PaillierPrivateKey, c: bigint): bigint {
  const { n, n2 } = key.publicKey;
  assertCiphertext(key.publicKey, c);
  const x = modPowNative(c, key.lambda, n2);
  return (((x - 1n) / n) * key.mu) % n;
}
