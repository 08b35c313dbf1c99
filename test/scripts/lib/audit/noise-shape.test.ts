/**
 * The shape and independence tests of `scripts/audit noise` (issue #14 F2): the reviewer's noise with the declared
 * variance but the wrong shape (two points ±σ) or dependence (antithetic pairs, in either phase; a day that sums to
 * zero; repeated pairs) FAILS; the gateway's own sampler PASSES in 200 of 200 seeded runs of the e2e's size (two days) and of three
 * days, so the false-FAIL rate at α = 10⁻⁶ per test (7 tests, ≤ 7·10⁻⁶ family-wise) is not visibly exceeded.
 */
import { describe, expect, it } from 'vitest';
import { noisePlan } from '../../../../gateway/aggregate/noise-plan.ts';
import { IntegerSampler } from '../../../../gateway/encrypt/discrete-gaussian.ts';
import {
  fCdf,
  incompleteBeta,
  normalCdf,
  normalQuantile,
} from '../../../../scripts/lib/audit/distributions.ts';
import { goodnessOfFit, pointMass } from '../../../../scripts/lib/audit/noise-shape.ts';
import { judgeNoise, type NoiseSample } from '../../../../scripts/lib/audit/noise-stats.ts';
import { seededRandom } from '../../../helpers/seeded-random.ts';

const ALPHA = 1e-6;
const PLAN = noisePlan({ epsilonPerDay: 100, deltaPerDay: 1e-6, clipWh: 1000, intervalMinutes: 30 });
const SIGMA2 = Number(PLAN.sigma2.num) / Number(PLAN.sigma2.den);
const SIGMA = Math.sqrt(SIGMA2);
const DAY0 = Date.parse('2012-10-09T00:00:00Z');

/** Errors as samples of consecutive half-hours from DAY0, declared at the plan's σ². */
const samples = (errors: readonly number[]): NoiseSample[] =>
  errors.map((error, i) => ({
    error,
    sigma2: SIGMA2,
    bound95: 1.96 * SIGMA,
    end: DAY0 + (i + 1) * 1_800_000,
  }));

/** `n` draws of the gateway's exact discrete Gaussian sampler at the plan's σ², seeded. */
function gateway(n: number, seed: string): number[] {
  const sampler = new IntegerSampler(seededRandom(seed));
  return Array.from({ length: n }, () => Number(sampler.truncatedGaussian(PLAN.sigma2, PLAN.bound)));
}

describe('distributions', () => {
  it('Φ and Φ⁻¹ against table values', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-3)).toBeCloseTo(0.001349898, 8);
    expect(normalCdf(-6) / 9.8658765e-10).toBeCloseTo(1, 5);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.1)).toBeCloseTo(-1.2815516, 5);
  });

  it('the incomplete beta against closed forms, and F against table quantiles', () => {
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    // I_0.4(2, 3) = Σ_(j=2..4) C(4, j)·0.4^j·0.6^(4−j).
    expect(incompleteBeta(0.4, 2, 3)).toBeCloseTo(0.5248, 12);
    expect(fCdf(2.978237, 10, 10)).toBeCloseTo(0.95, 6);
    expect(fCdf(1 / 2.978237, 10, 10)).toBeCloseTo(0.05, 6);
    expect(fCdf(1, 48, 48)).toBeCloseTo(0.5, 10);
    expect(fCdf(0, 5, 5)).toBe(0);
  });
});

describe('shape and independence', () => {
  it('point mass: a value repeated 4 times in 288 is chance, 10 times is not', () => {
    const base = gateway(288, 'mass');
    expect(pointMass(samples(base)).p).toBeGreaterThan(1e-3);
    const repeated = base.map((e, i) => (i < 10 ? 1234 : e));
    const m = pointMass(samples(repeated));
    expect(m).toMatchObject({ value: 1234, count: 10 });
    // C(288, 10)·p₀⁹, p₀ = 1/(σ√(2π)) ≈ 5.7·10⁻⁴.
    expect(m.p).toBeLessThan(1e-10);
  });

  it('the binned χ² fits the sampler, and rejects 1000 draws of uniform noise of the same variance', () => {
    expect(goodnessOfFit(samples(gateway(288, 'fit'))).p).toBeGreaterThan(1e-3);
    // Uniform on ±σ√3 (the same variance), from seeded bytes: the shape is what differs.
    const bytes = seededRandom('uniform')(4 * 1000);
    const u = Array.from({ length: 1000 }, (_, i) =>
      Math.round((bytes.readUInt32BE(4 * i) / 2 ** 32 - 0.5) * SIGMA * Math.sqrt(12)),
    );
    const fit = goodnessOfFit(samples(u));
    expect(fit.df).toBeGreaterThan(10);
    expect(fit.p).toBeLessThan(ALPHA);
  });

  it("FAILS the reviewer's two-point noise ±round(σ): the declared variance, every reading recoverable", () => {
    const coin = gateway(96, 'coin');
    const j = judgeNoise(samples(coin.map((e) => (e >= 0 ? 1 : -1) * Math.round(SIGMA))), ALPHA, 30);
    // The first two tests alone passed it (issue #14 F2): no exact hit, the spread the declared one.
    expect(j.exact).toBe(0);
    expect(j.spreadLowP).toBeGreaterThan(ALPHA);
    expect(j.verdict).toBe('FAIL');
    expect(j.reasons).toEqual([
      expect.stringMatching(/^the error -?705 Wh occurs \d+ times/),
      expect.stringContaining('not shaped like the discrete Gaussian'),
    ]);
  });

  it('FAILS antithetic pairs e(2j+1) = −e(2j), and the same shifted by one interval', () => {
    for (const phase of [0, 1]) {
      const errors = gateway(96, `anti ${phase}`);
      for (let i = phase + 1; i < errors.length; i += 2) errors[i] = -errors[i - 1]!;
      const j = judgeNoise(samples(errors), ALPHA, 30);
      expect(j.spreadLowP, `phase ${phase}`).toBeGreaterThan(ALPHA);
      expect(j.verdict, `phase ${phase}`).toBe('FAIL');
      expect(j.reasons, `phase ${phase}`).toContainEqual(
        expect.stringContaining('sums of adjacent intervals are more exact'),
      );
    }
  });

  it('FAILS repeated noise e(2j+1) = e(2j): the difference of two readings exact', () => {
    const errors = gateway(96, 'repeat');
    for (let i = 1; i < errors.length; i += 2) errors[i] = errors[i - 1]!;
    const j = judgeNoise(samples(errors), ALPHA, 30);
    expect(j.shape.pairs.ratio).toBe(Infinity);
    expect(j.reasons).toContainEqual(
      expect.stringContaining('differences of adjacent intervals are more exact'),
    );
  });

  it('FAILS noise whose daily sum is zero (the last interval of each day cancels the others)', () => {
    const errors = gateway(96, 'day');
    for (const last of [47, 95]) errors[last] = -errors.slice(last - 47, last).reduce((a, e) => a + e, 0);
    const j = judgeNoise(samples(errors), ALPHA, 30);
    expect(j.shape.daily.days).toBe(2);
    expect(j.reasons).toEqual([expect.stringContaining('daily sums are more exact')]);
  });

  it('FAILS strongly correlated noise (each error the previous one plus a little) by the lag-1 test', () => {
    const steps = gateway(96, 'walk');
    const errors = steps.map((_, i) => Math.round(steps[i - (i % 4)]! + steps[i]! / 10));
    const j = judgeNoise(samples(errors), ALPHA, 30);
    expect(j.shape.lag1.r).toBeGreaterThan(5);
    expect(j.reasons).toContainEqual(expect.stringContaining('consecutive errors are correlated'));
  });

  it("PASSES the gateway's sampler in 200 of 200 seeded runs, of two days (the e2e) and of three", () => {
    for (const n of [96, 144]) {
      const failed = Array.from({ length: 200 }, (_, r) => r).filter(
        (r) => judgeNoise(samples(gateway(n, `pass ${n} ${r}`)), ALPHA, 30).verdict !== 'PASS',
      );
      expect(failed, `n = ${n}`).toEqual([]);
    }
  });
});
