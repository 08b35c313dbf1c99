/**
 * Exact sampling of the discrete Gaussian N_Z(0, σ²) with integers only: Canonne, Kamath and Steinke, "The Discrete
 * Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1 (Bernoulli(exp(−γ)) for a rational γ), 2 (discrete
 * Laplace) and 3 (discrete Gaussian by rejection from a discrete Laplace). Every quantity is a BigInt or a ratio of
 * two; no floating point is involved, because a floating-point sampler leaks through the holes and the rounding of
 * its output distribution (Mironov, "On Significance of the Least Significant Bits for Differential Privacy", 2012).
 *
 * The randomness is an injected byte source (node:crypto's CSPRNG in the gateway, a seeded one in tests); uniform
 * integers are drawn by rejection, so they are exactly uniform.
 */
import { randomBytes } from 'node:crypto';
import { bitLength } from './bigint.ts';

/** A non-negative rational num/den (den > 0). */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

export type RandomSource = (size: number) => Buffer;

export class IntegerSampler {
  constructor(private readonly random: RandomSource = randomBytes) {}

  /** Uniform over [0, n), exactly (rejection of the draws ≥ n). */
  uniform(n: bigint): bigint {
    if (n <= 0n) throw new RangeError('uniform: n must be positive');
    if (n === 1n) return 0n;
    const bits = bitLength(n - 1n);
    const bytes = Math.ceil(bits / 8);
    const excess = BigInt(bytes * 8 - bits);
    for (;;) {
      let x = 0n;
      for (const b of this.random(bytes)) x = (x << 8n) | BigInt(b);
      x >>= excess;
      if (x < n) return x;
    }
  }

  /** Bernoulli(num/den), for 0 ≤ num/den ≤ 1. */
  bernoulli(num: bigint, den: bigint): boolean {
    return this.uniform(den) < num;
  }

  /** Bernoulli(exp(−γ)) for a rational γ ≥ 0 (CKS Algorithm 1). */
  bernoulliExp(gamma: Rational): boolean {
    let { num } = gamma;
    const { den } = gamma;
    if (num < 0n || den <= 0n) throw new RangeError('bernoulliExp: γ must be a non-negative rational');
    // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)): each factor is a Bernoulli trial that must succeed.
    while (num > den) {
      if (!this.bernoulliExpAtMostOne(den, den)) return false;
      num -= den;
    }
    return this.bernoulliExpAtMostOne(num, den);
  }

  /** Bernoulli(exp(−num/den)) for 0 ≤ num/den ≤ 1: K is the first k with Bernoulli(γ/k) = 0; exp(−γ) = P[K odd]. */
  private bernoulliExpAtMostOne(num: bigint, den: bigint): boolean {
    let k = 1n;
    while (this.bernoulli(num, den * k)) k++;
    return k % 2n === 1n;
  }

  /**
   * The discrete Laplace with scale t (a positive integer): P[Y = y] ∝ exp(−|y|/t) (CKS Algorithm 2 with s = 1).
   */
  discreteLaplace(t: bigint): bigint {
    if (t <= 0n) throw new RangeError('discreteLaplace: t must be positive');
    for (;;) {
      const u = this.uniform(t);
      if (!this.bernoulliExp({ num: u, den: t })) continue;
      let v = 0n;
      while (this.bernoulliExp({ num: 1n, den: 1n })) v++;
      const y = u + t * v;
      const negative = this.bernoulli(1n, 2n);
      // Reject −0 so that 0 is not drawn twice as often as it should be.
      if (negative && y === 0n) continue;
      return negative ? -y : y;
    }
  }

  /** The discrete Gaussian N_Z(0, σ²), σ² = num/den > 0 (CKS Algorithm 3). */
  discreteGaussian(sigma2: Rational): bigint {
    const { num: a, den: b } = sigma2;
    if (a <= 0n || b <= 0n) throw new RangeError('discreteGaussian: σ² must be positive');
    // t = ⌊σ⌋ + 1, and ⌊√x⌋ = isqrt(⌊x⌋) for x ≥ 0.
    const t = isqrt(a / b) + 1n;
    for (;;) {
      const y = this.discreteLaplace(t);
      const abs = y < 0n ? -y : y;
      // γ = (|y| − σ²/t)² / (2σ²) = (|y|·b·t − a)² / (2·a·b·t²).
      const d = abs * b * t - a;
      if (this.bernoulliExp({ num: d * d, den: 2n * a * b * t * t })) return y;
    }
  }

  /** N_Z(0, σ²) conditioned on |η| ≤ bound (rejection), so that a release never leaves its packed field. */
  truncatedGaussian(sigma2: Rational, bound: bigint): bigint {
    for (;;) {
      const y = this.discreteGaussian(sigma2);
      if (y >= -bound && y <= bound) return y;
    }
  }
}

/** ⌊√n⌋ for n ≥ 0 (Newton's method on integers). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number');
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}
