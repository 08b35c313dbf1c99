import { describe, expect, it } from 'vitest';
import { IntegerSampler, isqrt } from '../../../gateway/encrypt/discrete-gaussian.ts';
import { seededRandom } from '../../helpers/seeded-random.ts';

/** The exact pmf of N_Z(0, σ²), normalised over [−cut, cut] (the mass beyond is negligible for cut = 12σ). */
function pmf(sigma2: number, cut: number): Map<number, number> {
  const weights = new Map<number, number>();
  let total = 0;
  for (let y = -cut; y <= cut; y++) {
    const w = Math.exp(-(y * y) / (2 * sigma2));
    weights.set(y, w);
    total += w;
  }
  for (const [y, w] of weights) weights.set(y, w / total);
  return weights;
}

describe('IntegerSampler', () => {
  it('draws exactly uniform integers below n', () => {
    const s = new IntegerSampler(seededRandom('uniform'));
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[Number(s.uniform(5n))]!++;
    // Chi-square with 4 degrees of freedom; 18.47 is its 99.9 % point.
    const chi2 = counts.reduce((acc, c) => acc + (c - 10_000) ** 2 / 10_000, 0);
    expect(chi2).toBeLessThan(18.47);
  });

  it('draws Bernoulli(exp(−γ)) with the right frequency, for γ below and above 1', () => {
    const s = new IntegerSampler(seededRandom('bexp'));
    for (const [num, den] of [
      [1n, 3n],
      [5n, 2n],
    ] as const) {
      let ones = 0;
      const n = 40_000;
      for (let i = 0; i < n; i++) if (s.bernoulliExp({ num, den })) ones++;
      const p = Math.exp(-Number(num) / Number(den));
      // Five standard deviations of a binomial proportion.
      expect(Math.abs(ones / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it('samples the discrete Gaussian: mean, variance and a chi-square against the exact pmf', () => {
    const s = new IntegerSampler(seededRandom('gauss'));
    const sigma2 = 6.25;
    const n = 40_000;
    const counts = new Map<number, number>();
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const y = Number(s.discreteGaussian({ num: 25n, den: 4n }));
      counts.set(y, (counts.get(y) ?? 0) + 1);
      sum += y;
      sumSq += y * y;
    }
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(sigma2 / n));
    // Var of the discrete Gaussian is within 1e-6 of σ² at σ = 2.5; the sample variance's sd is ≈ σ²·√(2/n).
    expect(Math.abs(variance - sigma2)).toBeLessThan(5 * sigma2 * Math.sqrt(2 / n));
    // Chi-square over the cells |y| ≤ 7 plus one tail cell (16 degrees of freedom; 39.25 is its 99.9 % point).
    const p = pmf(sigma2, 40);
    let chi2 = 0;
    let tailExpected = n;
    let tailSeen = n;
    for (let y = -7; y <= 7; y++) {
      const expected = n * p.get(y)!;
      const seen = counts.get(y) ?? 0;
      chi2 += (seen - expected) ** 2 / expected;
      tailExpected -= expected;
      tailSeen -= seen;
    }
    chi2 += (tailSeen - tailExpected) ** 2 / tailExpected;
    expect(chi2).toBeLessThan(39.25);
  });

  it('keeps 95 % of its draws within 1.96σ at a large σ, and the truncation holds', () => {
    const s = new IntegerSampler(seededRandom('wide'));
    const sigma = 1234.5;
    const n = 4000;
    let inside = 0;
    for (let i = 0; i < n; i++) {
      const y = s.truncatedGaussian({ num: 15239889n, den: 10n }, 20_000n);
      expect(y >= -20_000n && y <= 20_000n).toBe(true);
      if (Math.abs(Number(y)) <= 1.96 * sigma) inside++;
    }
    expect(Math.abs(inside / n - 0.95)).toBeLessThan(5 * Math.sqrt((0.95 * 0.05) / n));
  });

  it('is deterministic for one seed and uses no Math.random', () => {
    const a = new IntegerSampler(seededRandom('same'));
    const b = new IntegerSampler(seededRandom('same'));
    const draws = (s: IntegerSampler) =>
      Array.from({ length: 20 }, () => s.discreteGaussian({ num: 100n, den: 1n }));
    expect(draws(a)).toEqual(draws(b));
  });

  it('refuses parameters outside its domain', () => {
    const s = new IntegerSampler(seededRandom('x'));
    expect(() => s.uniform(0n)).toThrow(RangeError);
    expect(() => s.discreteGaussian({ num: 0n, den: 1n })).toThrow(RangeError);
    expect(() => s.bernoulliExp({ num: -1n, den: 1n })).toThrow(RangeError);
  });
});

describe('isqrt', () => {
  it('is the floor of the square root', () => {
    for (const n of [0n, 1n, 2n, 3n, 4n, 15n, 16n, 17n, 10n ** 30n, 10n ** 30n - 1n]) {
      const r = isqrt(n);
      expect(r * r <= n && (r + 1n) * (r + 1n) > n).toBe(true);
    }
  });
});
