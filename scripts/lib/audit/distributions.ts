/**
 * The distributions `scripts/audit noise` judges with (noise-stats.ts, noise-shape.ts): the discrete Gaussian's
 * mass at 0, the Poisson-binomial tail, χ², ln Γ, the normal. Floating point is fine here: this judges a release,
 * it draws nothing.
 */

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

/** Φ(x), by erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2·10⁻⁷: ample for p-values at α). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Φ⁻¹(p) by bisection on Φ (only the few bin edges need it). */
export function normalQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** P[F_(d1,d2) ≤ f]: the regularised incomplete beta I_x(d1/2, d2/2) at x = d1·f/(d1·f + d2). */
export function fCdf(f: number, d1: number, d2: number): number {
  if (f <= 0) return 0;
  return incompleteBeta((d1 * f) / (d1 * f + d2), d1 / 2, d2 / 2);
}

/** I_x(a, b), by the continued fraction (Lentz) on whichever side converges, as in Numerical Recipes' betai. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lead = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (lead * betaFraction(x, a, b)) / a;
  return 1 - (lead * betaFraction(1 - x, b, a)) / b;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const clamp = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / clamp(1 - ((a + b) * x) / (a + 1));
  let h = d;
  for (let m = 1; m < 10_000; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / clamp(1 + even * d);
    c = clamp(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / clamp(1 + odd * d);
    c = clamp(1 + odd / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}
