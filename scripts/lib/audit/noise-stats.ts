/**
 * The statistics of `scripts/audit noise` (docs/privacy.md "Audit the noise"): given the attacker's error on each
 * interval and the noise σ² each release declares, is the error what the declared noise gives, or does the
 * attacker learn more? Under the hypothesis that the errors are independent discrete Gaussian draws N_Z(0, σ_i²)
 * (what the gateway promises), two one-sided tests at level α each:
 *
 * - exact hits: H = #{e_i = 0} is Poisson-binomial with p_i = P[N_Z(0, σ_i²) = 0]; FAIL if P[H ≥ h] < α;
 * - spread: Q = Σ e_i² / σ_i² is (for σ ≳ 1) χ² with n degrees of freedom; FAIL if P[χ²_n ≤ Q] < α (the error
 *   spread far below the declared σ). A spread far ABOVE it is no leak: it is reported as a warning (the
 *   auditor's known readings or truth may not be the meters').
 *
 * Floating point is fine here: this judges a release, it draws nothing.
 */

export interface NoiseSample {
  /** Attacker's estimate minus the household's (clipped) true reading, Wh. */
  error: number;
  /** The σ² the release declares, Wh². */
  sigma2: number;
  /** Half-width of the 95 % interval the release declares, Wh. */
  bound95: number;
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

/** P[N_Z(0, σ²) = 0] = 1 / Σ_k exp(−k²/2σ²); for σ ≥ 4 by Poisson summation, Σ = σ√(2π)·Σ_m exp(−2π²σ²m²). */
export function zeroProbability(sigma2: number): number {
  if (sigma2 <= 0) return 1;
  if (sigma2 >= 16) {
    const theta = 1 + 2 * Math.exp(-2 * Math.PI ** 2 * sigma2);
    return 1 / (Math.sqrt(2 * Math.PI * sigma2) * theta);
  }
  let sum = 1;
  for (let k = 1; k <= 64; k++) sum += 2 * Math.exp(-(k * k) / (2 * sigma2));
  return 1 / sum;
}

/** P[H ≥ h] for H the number of successes of independent Bernoulli(p_i) (exact, by the distribution of H < h). */
export function atLeast(ps: readonly number[], h: number): number {
  if (h <= 0) return 1;
  if (h > ps.length) return 0;
  let dist = [1, ...new Array<number>(h - 1).fill(0)];
  for (const p of ps) {
    const next = dist.map((d, k) => d * (1 - p) + (k > 0 ? dist[k - 1]! * p : 0));
    dist = next;
  }
  return Math.max(0, 1 - dist.reduce((a, d) => a + d, 0));
}

/** P[χ²_df ≤ x]: the regularised lower incomplete gamma P(df/2, x/2) (series, or continued fraction above). */
export function chiSquareCdf(x: number, df: number): number {
  if (x <= 0) return 0;
  const a = df / 2;
  const z = x / 2;
  const lead = Math.exp(-z + a * Math.log(z) - logGamma(a));
  if (z < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let k = 1; k < 10_000 && term > sum * 1e-16; k++) {
      term *= z / (a + k);
      sum += term;
    }
    return Math.min(1, sum * lead);
  }
  // Lentz's continued fraction for the upper tail Q(a, z).
  const tiny = 1e-300;
  let b = z + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let f = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = Math.abs(d) < tiny ? tiny : d;
    c = b + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.max(0, 1 - lead * f);
}

/** ln Γ(a) for a > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits). */
export function logGamma(a: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (a < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * a)) - logGamma(1 - a);
  const x = a - 1;
  let sum = g[0]!;
  for (let i = 1; i < 9; i++) sum += g[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}
