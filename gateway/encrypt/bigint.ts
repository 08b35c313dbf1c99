/** Big-integer helpers shared by the Paillier code: byte/hex conversion, random sampling, native modexp. */
import { createDiffieHellman, randomBytes } from 'node:crypto';

export function toBytes(x: bigint): Buffer {
  if (x < 0n) throw new RangeError('negative big integer');
  let hex = x.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

export function fromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

export function toHex(x: bigint): string {
  return x.toString(16);
}

/** Parses lower- or upper-case hex without prefix; undefined when it is not hex. */
export function fromHex(text: string): bigint | undefined {
  return /^[0-9a-fA-F]{1,4096}$/.test(text) ? BigInt(`0x${text}`) : undefined;
}

/** A non-negative integer count of 10^−scale units as an exact decimal: decimal(290000n, 6) = "0.29". */
export function decimal(value: bigint, scale: number): string {
  if (value < 0n) throw new RangeError('negative amount');
  const unit = 10n ** BigInt(scale);
  const fraction = (value % unit).toString().padStart(scale, '0').replace(/0+$/, '');
  return fraction === '' ? String(value / unit) : `${value / unit}.${fraction}`;
}

export function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

export function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Modular inverse by the extended Euclidean algorithm; throws when none exists. */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('no modular inverse');
  return mod(oldS, m);
}

/** A uniformly random integer in [1, n) coprime to n, from the CSPRNG (rejection sampling, no modulo bias). */
export function randomUnit(n: bigint, random: (size: number) => Buffer = randomBytes): bigint {
  const bits = bitLength(n);
  const bytes = Math.ceil(bits / 8);
  const excess = BigInt(bytes * 8 - bits);
  for (;;) {
    const r = fromBytes(random(bytes)) >> excess;
    if (r > 0n && r < n && gcd(r, n) === 1n) return r;
  }
}

/**
 * base^exp mod m in native code. Node exposes OpenSSL's constant-time Montgomery exponentiation only through
 * Diffie-Hellman: with "prime" m and "generator" base, the public key for private key exp is base^exp mod m.
 * m must be odd (n² is). Several times faster than BigInt square-and-multiply in JavaScript.
 */
export function modPowNative(base: bigint, exp: bigint, m: bigint): bigint {
  if (exp === 0n) return 1n % m;
  const b = mod(base, m);
  // OpenSSL refuses 0 and 1 as Diffie-Hellman generators; their powers are themselves.
  if (b <= 1n) return b;
  const dh = createDiffieHellman(toBytes(m), toBytes(b));
  dh.setPrivateKey(toBytes(exp));
  return fromBytes(dh.generateKeys());
}
