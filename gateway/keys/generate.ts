/** Key generation: Paillier from OpenSSL primes (fast, native), Ed25519 and X25519 from Node's crypto. */
import { generateKeyPairSync, generatePrime, type KeyObject } from 'node:crypto';
import { bitLength, gcd, modInverse } from '../encrypt/bigint.ts';
import { publicKeyFromN } from '../encrypt/paillier.ts';
import type { PaillierPrivateKey } from './paillier-files.ts';

function prime(bits: number): Promise<bigint> {
  return new Promise((resolve, reject) =>
    generatePrime(bits, { bigint: true }, (err, p) => (err ? reject(err) : resolve(p))),
  );
}

export type Progress = (message: string) => void;

/**
 * A Paillier key pair with g = n + 1: two distinct primes of bits/2 bits whose product has exactly `bits` bits,
 * λ = lcm(p−1, q−1) and μ = λ⁻¹ mod n (for g = n+1, L(g^λ mod n²) = λ mod n).
 */
export async function generatePaillier(
  bits: number,
  progress: Progress = () => {},
): Promise<PaillierPrivateKey> {
  if (bits < 2048 || bits % 2 !== 0)
    throw new RangeError('Paillier modulus must be an even number ≥ 2048 bits');
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    progress(`searching a ${bits / 2}-bit prime p...`);
    const p = await prime(bits / 2);
    progress(`found p in ${Date.now() - started} ms; searching q...`);
    const q = await prime(bits / 2);
    const n = p * q;
    if (p === q || bitLength(n) !== bits || gcd(n, (p - 1n) * (q - 1n)) !== 1n) {
      progress(`attempt ${attempt}: n has ${bitLength(n)} bits, retrying`);
      continue;
    }
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const mu = modInverse(lambda, n);
    progress(`key ready in ${Date.now() - started} ms`);
    return { publicKey: publicKeyFromN(n), lambda, mu, p, q };
  }
}

export interface PemPair {
  privatePem: string;
  publicPem: string;
  publicKey: KeyObject;
}

export function generateSigningPair(type: 'ed25519' | 'x25519'): PemPair {
  const { privateKey, publicKey } =
    type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKey,
  };
}
