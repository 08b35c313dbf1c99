/**
 * One interface for Paillier encryption, chosen in the config (`encryption.engine`). Every engine produces standard
 * g = n+1 ciphertexts that `paillier-bigint`'s private key decrypts:
 * - `paillier-bigint`: the library's own encryption, the baseline;
 * - `native`: g^m as 1 + m·n and a full-length r^n by OpenSSL;
 * - `djn`: g^m as 1 + m·n and a short-exponent DJN randomizer from a fixed-base table (randomizers.ts).
 * The last two take their randomizers from a pool filled by a worker thread (engine-factory.ts).
 */
import { PublicKey as BigintPublicKey } from 'paillier-bigint';
import { encryptWith, type PaillierPublicKey } from './paillier.ts';
import { FullRandomizer, type RandomizerSource } from './randomizers.ts';

export type EngineName = 'djn' | 'native' | 'paillier-bigint';

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

/** E(m) = (1 + m·n) · randomizer mod n² (`encryptWith`): cheap once the randomizer is at hand. */
export class RandomizedEngine implements EncryptionEngine {
  constructor(
    readonly name: string,
    private readonly key: PaillierPublicKey,
    private readonly randomizers: RandomizerSource,
  ) {}

  encrypt(m: bigint): bigint {
    if (m < 0n || m >= this.key.n) throw new RangeError('plaintext out of range [0, n)');
    return encryptWith(this.key, m, this.randomizers.next());
  }
}

/** Full-length r^n computed on the spot by OpenSSL (no pool). */
export class NativeEngine extends RandomizedEngine {
  constructor(key: PaillierPublicKey) {
    super('native', key, new FullRandomizer(key));
  }
}

/** The engines that need no set-up; `startEngine` (engine-factory.ts) builds every engine from the config. */
export function createEngine(name: 'native' | 'paillier-bigint', key: PaillierPublicKey): EncryptionEngine {
  return name === 'native' ? new NativeEngine(key) : new BigintEngine(key);
}
