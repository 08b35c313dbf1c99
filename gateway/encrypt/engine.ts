/**
 * One interface for Paillier encryption, chosen in the config (`encryption.engine`). Every engine produces standard
 * g = n+1 ciphertexts that `paillier-bigint`'s private key decrypts.
 */
import { PublicKey as BigintPublicKey } from 'paillier-bigint';
import { modPowNative, randomUnit } from './bigint.ts';
import { gPow, type PaillierPublicKey } from './paillier.ts';

export interface EncryptionEngine {
  readonly name: string;
  encrypt(m: bigint): bigint;
}

/** The baseline: `paillier-bigint`'s own encryption (BigInt exponentiation in JavaScript). */
export class BigintEngine implements EncryptionEngine {
  readonly name = 'paillier-bigint';
  private readonly key: BigintPublicKey;

  constructor(key: PaillierPublicKey) {
    this.key = new BigintPublicKey(key.n, key.n + 1n);
  }

  encrypt(m: bigint): bigint {
    return this.key.encrypt(m);
  }
}

/** g^m as 1 + m·n (no exponentiation) and a full-length random r^n by OpenSSL's modexp. */
export class NativeEngine implements EncryptionEngine {
  readonly name = 'native';

  constructor(private readonly key: PaillierPublicKey) {}

  encrypt(m: bigint): bigint {
    const rn = modPowNative(randomUnit(this.key.n), this.key.n, this.key.n2);
    return (gPow(this.key, m) * rn) % this.key.n2;
  }
}

export type EngineName = 'native' | 'paillier-bigint';

export function createEngine(name: EngineName, key: PaillierPublicKey): EncryptionEngine {
  return name === 'native' ? new NativeEngine(key) : new BigintEngine(key);
}
