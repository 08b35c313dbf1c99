/**
 * Fixed-base exponentiation with a precomputed window table (Brickell–Gordon–McCurley–Wilson 1992, the simple
 * "fixed-base windowing" of HAC §14.6.3 / Algorithm 14.109): for a base b fixed forever, store
 * T[i][d] = b^(d · 2^(w·i)) mod m for every window i of an exponent of `exponentBits` bits and every digit d.
 * Then b^e = Π_i T[i][digit_i(e)]: ⌈exponentBits / w⌉ modular multiplications and no squarings.
 * Memory: ⌈exponentBits / w⌉ · 2^w entries of the modulus size (reported by `bytes`).
 */
export class FixedBaseTable {
  private readonly table: bigint[][];
  readonly windows: number;

  constructor(
    base: bigint,
    readonly modulus: bigint,
    readonly exponentBits: number,
    readonly windowBits: number,
  ) {
    if (windowBits < 1 || windowBits > 16) throw new RangeError('window must be 1..16 bits');
    this.windows = Math.ceil(exponentBits / windowBits);
    const digits = 1 << windowBits;
    this.table = [];
    let b = base % modulus;
    for (let i = 0; i < this.windows; i++) {
      const row = new Array<bigint>(digits);
      row[0] = 1n;
      for (let d = 1; d < digits; d++) row[d] = (row[d - 1]! * b) % modulus;
      this.table.push(row);
      // The next window's base is b^(2^w) = row[2^w − 1] · b.
      b = (row[digits - 1]! * b) % modulus;
    }
  }

  /** base^e mod m for 0 ≤ e < 2^exponentBits. */
  pow(e: bigint): bigint {
    if (e < 0n || e >> BigInt(this.exponentBits) !== 0n) throw new RangeError('exponent out of range');
    const mask = BigInt((1 << this.windowBits) - 1);
    const w = BigInt(this.windowBits);
    let acc = 1n;
    let first = true;
    for (let i = 0; i < this.windows && e !== 0n; i++, e >>= w) {
      const d = Number(e & mask);
      if (d === 0) continue;
      acc = first ? this.table[i]![d]! : (acc * this.table[i]![d]!) % this.modulus;
      first = false;
    }
    return acc;
  }

  /** Approximate memory held by the table, in bytes. */
  get bytes(): number {
    const entryBytes = Math.ceil(this.modulus.toString(16).length / 2);
    return this.windows * (1 << this.windowBits) * entryBytes;
  }
}
