/**
 * The statistics of `scripts/audit noise` (docs/privacy.md "Audit the noise"): given the attacker's error on each
 * interval and the noise σ² each release declares, is the error what the declared noise gives, or does the
 * attacker learn more? Under the hypothesis that the errors are independent discrete Gaussian draws N_Z(0, σ_i²)
 * (what the gateway promises), seven tests at level α each, so a false FAIL has probability ≤ 7α (Bonferroni):
 *
 * - exact hits: H = #{e_i = 0} is Poisson-binomial with p_i = P[N_Z(0, σ_i²) = 0]; FAIL if P[H ≥ h] < α;
 * - spread: Q = Σ e_i² / σ_i² is (for σ ≳ 1) χ² with n degrees of freedom; FAIL if P[χ²_n ≤ Q] < α (the error
 *   spread far below the declared σ). A spread far ABOVE it is no leak: it is reported as a warning (the
 *   auditor's known readings or truth may not be the meters');
 * - point mass, shape (binned χ²), lag-1 correlation, sums of adjacent pairs, daily sums: noise-shape.ts. Noise
 *   with the declared variance but two values, or cancelling in pairs, passes the first two and fails these.
 *
 * Floating point is fine here: this judges a release, it draws nothing.
 */
import { atLeast, chiSquareCdf, zeroProbability } from './distributions.ts';
import { shapeTests, type ShapeTests } from './noise-shape.ts';

export { atLeast, chiSquareCdf, logGamma, zeroProbability } from './distributions.ts';

export interface NoiseSample {
  /** Attacker's estimate minus the household's (clipped) true reading, Wh. */
  error: number;
  /** The σ² the release declares, Wh². */
  sigma2: number;
  /** Half-width of the 95 % interval the release declares, Wh. */
  bound95: number;
  /** End of the interval (ms since the epoch): orders the errors and groups them by UTC day. */
  end?: number;
}

export interface NoiseJudgement {
  n: number;
  exact: number;
  /** Exact hits the declared noise gives by chance, on average. */
  exactExpected: number;
  /** P[H ≥ exact] under the declared noise. */
  exactP: number;
  meanError: number;
  /** Standard error of the mean under the declared noise. */
  meanSe: number;
  /** Sample standard deviation of the errors. */
  errorSd: number;
  /** The declared σ, as the root mean of the σ_i². */
  sigma: number;
  /** Q = Σ e²/σ², and P[χ²_n ≤ Q], P[χ²_n ≥ Q]. */
  chi2: number;
  spreadLowP: number;
  spreadHighP: number;
  /** Share of intervals whose error is within the declared 95 % interval. */
  coverage95: number;
  /** The point-mass, shape and independence tests (noise-shape.ts). */
  shape: ShapeTests;
  verdict: 'PASS' | 'FAIL' | 'INCONCLUSIVE';
  reasons: string[];
  warnings: string[];
}

export function judgeNoise(
  samples: readonly NoiseSample[],
  alpha: number,
  minIntervals: number,
): NoiseJudgement {
  const n = samples.length;
  const ps = samples.map((s) => zeroProbability(s.sigma2));
  const exact = samples.filter((s) => s.error === 0).length;
  const mean = n === 0 ? 0 : samples.reduce((a, s) => a + s.error, 0) / n;
  const sd = n < 2 ? 0 : Math.sqrt(samples.reduce((a, s) => a + (s.error - mean) ** 2, 0) / (n - 1));
  const meanSigma2 = n === 0 ? 0 : samples.reduce((a, s) => a + s.sigma2, 0) / n;
  const chi2 = samples.reduce((a, s) => a + s.error ** 2 / s.sigma2, 0);
  const spreadLowP = n === 0 ? 1 : chiSquareCdf(chi2, n);
  const j: NoiseJudgement = {
    n,
    exact,
    exactExpected: ps.reduce((a, p) => a + p, 0),
    exactP: atLeast(ps, exact),
    meanError: mean,
    meanSe: n === 0 ? 0 : Math.sqrt(meanSigma2 / n),
    errorSd: sd,
    sigma: Math.sqrt(meanSigma2),
    chi2,
    spreadLowP,
    spreadHighP: 1 - spreadLowP,
    coverage95: n === 0 ? 0 : samples.filter((s) => Math.abs(s.error) <= s.bound95).length / n,
    shape: shapeTests(samples),
    verdict: 'PASS',
    reasons: [],
    warnings: [],
  };
  if (j.exactP < alpha) {
    j.reasons.push(
      `${exact} exact estimate(s) where the declared noise gives ${j.exactExpected.toFixed(2)} on average ` +
        `(P[≥ ${exact}] = ${j.exactP.toExponential(1)} < α = ${alpha})`,
    );
  }
  if (n > 0 && spreadLowP < alpha) {
    j.reasons.push(
      `the error spread (SD ${sd.toFixed(1)} Wh) is far below the declared σ ${j.sigma.toFixed(1)} Wh ` +
        `(Σe²/σ² = ${chi2.toFixed(1)} on ${n} intervals, P[χ²_${n} ≤ it] = ${spreadLowP.toExponential(1)} < α)`,
    );
  }
  j.reasons.push(...shapeReasons(j.shape, alpha));
  if (n > 0 && j.spreadHighP < alpha) {
    j.warnings.push(
      'the error is far LARGER than the declared noise: no leak, but check that the known readings and the ' +
        "truth are the meters' (same intervals, same units)",
    );
  }
  if (j.reasons.length > 0) j.verdict = 'FAIL';
  else if (n < minIntervals) j.verdict = 'INCONCLUSIVE';
  return j;
}

/** Why the noise's shape or independence is not the declared one, one line per failed test. */
function shapeReasons(t: ShapeTests, alpha: number): string[] {
  const reasons: string[] = [];
  const p = (x: number) => x.toExponential(1);
  if (t.mode.p < alpha) {
    reasons.push(
      `the error ${t.mode.value} Wh occurs ${t.mode.count} times: the declared noise puts no such mass on any ` +
        `value (P ≤ ${p(t.mode.p)} < α)`,
    );
  }
  if (t.fit.p < alpha) {
    reasons.push(
      `the errors are not shaped like the discrete Gaussian (binned χ² = ${t.fit.chi2.toFixed(1)} on ` +
        `${t.fit.df} df, P = ${p(t.fit.p)} < α)`,
    );
  }
  if (t.lag1.p < alpha) {
    reasons.push(
      `consecutive errors are correlated (lag-1 statistic ${t.lag1.r.toFixed(1)}, P = ${p(t.lag1.p)} < α): ` +
        'the noise of one interval tells about the next',
    );
  }
  if (t.pairs.p < alpha) {
    reasons.push(
      t.pairs.ratio < 1
        ? `sums of adjacent intervals are more exact than their differences (${t.pairs.pairs} pairs, ` +
            `Σ sum²/Σ difference² = ${t.pairs.ratio.toFixed(2)}, P = ${p(t.pairs.p)} < α): the noise cancels`
        : `differences of adjacent intervals are more exact than their sums (${t.pairs.pairs} pairs, ` +
            `Σ sum²/Σ difference² = ${t.pairs.ratio.toFixed(2)}, P = ${p(t.pairs.p)} < α): the noise repeats`,
    );
  }
  if (t.daily.p < alpha) {
    reasons.push(
      `daily sums are more exact than independent noise at the declared σ allows (${t.daily.days} day(s), ` +
        `P = ${p(t.daily.p)} < α): the noise cancels over the day`,
    );
  }
  return reasons;
}
