/**
 * A Reading is the only place a plaintext consumption value exists: in memory, from the driver to the encryption
 * step (privacy invariant 1). It must never be logged, stored or sent; the encrypt step drops it.
 */
export interface Reading {
  /** Local meter id from the config. */
  readonly meterId: string;
  /** Start of the measured interval, epoch ms (inclusive). */
  readonly start: number;
  /** End of the measured interval, epoch ms (exclusive). */
  readonly end: number;
  /** Energy consumed in the interval, whole Wh. */
  readonly wh: number;
}

/** What drivers hand readings to. It never throws: rejections are counted and logged by the intake. */
export type ReadingSink = (reading: Reading) => void;

/** A reading a meter encrypted (and signed) itself: the gateway only ever holds its ciphertext. */
export interface SealedReadingIn {
  readonly meterId: string;
  readonly start: number;
  readonly end: number;
  /** Paillier ciphertext of the packed slots, under the supplier's key (drivers/mqtt/sealed-payload.ts). */
  readonly ciphertext: bigint;
}

export type SealedReadingSink = (reading: SealedReadingIn) => void;
