/**
 * The statistics of `scripts/audit noise` on known inputs: the distributions against closed forms and table
 * values, and the verdict — zero noise FAILS, noise drawn by the gateway's own exact discrete Gaussian sampler at
 * the declared σ PASSES, noise smaller than declared FAILS, too few intervals are INCONCLUSIVE, errors larger than
 * declared PASS with a warning.
 */
import { describe, expect, it } from 'vitest';
import { noisePlan } from '../../../../gateway/aggregate/noise-plan.ts';
import { IntegerSampler } from '../../../../gateway/encrypt/discrete-gaussian.ts';
import {
  atLeast,
  chiSquareCdf,
  judgeNoise,
  logGamma,
  zeroProbability,
  type NoiseSample,
} from '../../../../scripts/lib/audit/noise-stats.ts';
import { seededRandom } from '../../../helpers/seeded-random.ts';

const ALPHA = 1e-6;
/** The gateway's defaults (ε = 100, δ = 10⁻⁶ per day, clip 1000 Wh, half-hourly): σ ≈ 705 Wh. */
const PLAN = noisePlan({ epsilonPerDay: 100, deltaPerDay: 1e-6, clipWh: 1000, intervalMinutes: 30 });
const SIGMA2 = Number(PLAN.sigma2.num) / Number(PLAN.sigma2.den);

/** `n` errors drawn by the gateway's sampler at variance `drawn`, judged against the declared SIGMA2. */
function drawn(
  n: number,
  drawnSigma2: { num: bigint; den: bigint } = PLAN.sigma2,
  seed = 'audit',
): NoiseSample[] {
  const sampler = new IntegerSampler(seededRandom(seed));
  return Array.from({ length: n }, () => ({
    error: Number(sampler.truncatedGaussian(drawnSigma2, PLAN.bound)),
    sigma2: SIGMA2,
    bound95: 1.96 * Math.sqrt(SIGMA2),
  }));
}

describe('distributions', () => {
  it('χ² CDF: closed form for 2 degrees of freedom, table quantiles for 1, 10 and 100, tails', () => {
    for (const x of [0.1, 1, 5, 30]) expect(chiSquareCdf(x, 2)).toBeCloseTo(1 - Math.exp(-x / 2), 12);
    expect(chiSquareCdf(3.841459, 1)).toBeCloseTo(0.95, 6);
    expect(chiSquareCdf(18.307038, 10)).toBeCloseTo(0.95, 6);
    expect(chiSquareCdf(124.342113, 100)).toBeCloseTo(0.95, 6);
    expect(chiSquareCdf(77.929465, 100)).toBeCloseTo(0.05, 6);
    expect(chiSquareCdf(0, 5)).toBe(0);
    // A far lower tail, against the series summed independently: 2.8175176155779e-14.
    expect(chiSquareCdf(10, 60) / 2.8175176155779e-14).toBeCloseTo(1, 10);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });

  it('P[discrete Gaussian = 0]: by direct sum and by Poisson summation, which agree where they meet', () => {
    expect(zeroProbability(0)).toBe(1);
    expect(zeroProbability(0.01)).toBeCloseTo(1, 12);
    const direct = (s2: number) =>
      1 /
      Array.from({ length: 401 }, (_, i) => Math.exp(-((i - 200) ** 2) / (2 * s2))).reduce((a, b) => a + b);
    for (const s2 of [0.5, 4, 15.9, 16, 100]) expect(zeroProbability(s2)).toBeCloseTo(direct(s2), 12);
    expect(zeroProbability(705 ** 2) * 705 * Math.sqrt(2 * Math.PI)).toBeCloseTo(1, 9);
  });

  it('Poisson-binomial tail: the binomial for equal p, the bounds', () => {
    expect(atLeast([0.5, 0.5, 0.5], 2)).toBeCloseTo(0.5, 12);
    expect(atLeast([0.1, 0.2, 0.3], 3)).toBeCloseTo(0.006, 12);
    expect(atLeast([0.1, 0.2], 0)).toBe(1);
    expect(atLeast([0.1, 0.2], 3)).toBe(0);
    expect(atLeast(new Array<number>(96).fill(1e-3), 3)).toBeCloseTo(
      1 - (0.999 ** 96 + 96 * 1e-3 * 0.999 ** 95 + 4560 * 1e-6 * 0.999 ** 94),
      12,
    );
  });
});

describe('judgeNoise', () => {
  it('FAILS zero noise: every estimate exact, no spread', () => {
    const j = judgeNoise(
      drawn(60).map((s) => ({ ...s, error: 0 })),
      ALPHA,
      30,
    );
    expect(j.verdict).toBe('FAIL');
    expect(j.exact).toBe(60);
    expect(j.coverage95).toBe(1);
    // The first two tests, then the shape ones (noise-shape.test.ts): a point mass at 0, no Gaussian shape, the
    // sums of the day exact (pair sums against differences: 0/0, no verdict).
    expect(j.reasons).toEqual([
      expect.stringContaining('60 exact estimate(s)'),
      expect.stringContaining('far below the declared σ'),
      expect.stringContaining('the error 0 Wh occurs 60 times'),
      expect.stringContaining('not shaped like the discrete Gaussian'),
      expect.stringContaining('daily sums are more exact'),
    ]);
  });

  it("PASSES the gateway's own discrete Gaussian noise at the declared σ", () => {
    for (const seed of ['a', 'b', 'c']) {
      const j = judgeNoise(drawn(200, PLAN.sigma2, seed), ALPHA, 30);
      expect(j.verdict, seed).toBe('PASS');
      expect(j.reasons).toEqual([]);
      expect(j.warnings).toEqual([]);
      expect(j.errorSd / j.sigma).toBeGreaterThan(0.8);
      expect(j.errorSd / j.sigma).toBeLessThan(1.2);
      expect(j.coverage95).toBeGreaterThan(0.88);
      expect(Math.abs(j.meanError)).toBeLessThan(5 * j.meanSe);
    }
  });

  it('FAILS noise well below the declared σ, even with no exact hit', () => {
    const quarter = { num: PLAN.sigma2.num / 16n, den: PLAN.sigma2.den };
    const j = judgeNoise(drawn(100, quarter), ALPHA, 30);
    expect(j.verdict).toBe('FAIL');
    // The shape test (at the declared σ, the spread being below it) agrees; the pair test is scale-free.
    expect(j.reasons).toEqual([
      expect.stringContaining('far below the declared σ'),
      expect.stringContaining('not shaped like the discrete Gaussian'),
    ]);
  });

  it('is INCONCLUSIVE on too few intervals, and warns (no FAIL) on errors far above the declared noise', () => {
    expect(judgeNoise(drawn(10), ALPHA, 30).verdict).toBe('INCONCLUSIVE');
    expect(judgeNoise([], ALPHA, 30).verdict).toBe('INCONCLUSIVE');
    const wrongTruth = judgeNoise(
      drawn(100).map((s) => ({ ...s, error: s.error * 3 })),
      ALPHA,
      30,
    );
    expect(wrongTruth.verdict).toBe('PASS');
    expect(wrongTruth.warnings).toEqual([expect.stringContaining('far LARGER')]);
  });
});
