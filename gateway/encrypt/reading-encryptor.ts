/**
 * The encryption step: turns a validated plaintext Reading into one Paillier ciphertext of its packed slots
 * (total Wh, then one slot per tariff band, the reading's band holding its Wh and the others 0; the clipped Wh
 * in the release field, gateway/encrypt/packing.ts). After this the
 * plaintext is no longer referenced (invariant 1).
 */
import type { Reading } from '../acquire/reading.ts';
import type { TariffBands } from '../acquire/tariff.ts';
import type { EncryptionEngine } from './engine.ts';
import { packReading, type PackingLayout } from './packing.ts';

export class ReadingEncryptor {
  constructor(
    private readonly engine: EncryptionEngine,
    private readonly layout: PackingLayout,
    private readonly bands: TariffBands,
  ) {}

  /** `band`: the reading's tariff band, when the caller has already looked it up. */
  encrypt(reading: Reading, band = this.bands.bandAt(reading.start)): bigint {
    return this.engine.encrypt(packReading(this.layout, BigInt(reading.wh), band));
  }

  /** A fresh encryption of 0: multiplying a ciphertext by it re-randomises it without changing its plaintext. */
  encryptZero(): bigint {
    return this.engine.encrypt(0n);
  }
}
