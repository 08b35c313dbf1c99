/**
 * The shape and independence tests of `scripts/audit noise` (issue #14 F2): noise with the declared variance can
 * still leak every reading — two-point noise ±σ (only one of estimate ± σ is a possible reading), antithetic
 * pairs e₂ⱼ₊₁ = −e₂ⱼ (every sum of two intervals exact). Each function returns a p-value under the hypothesis the
 * gateway promises: the errors are independent discrete Gaussian draws N_Z(0, σ_i²), in interval order.
 * noise-stats.ts compares each with α.
 */
import { chiSquareCdf, fCdf, logGamma, normalCdf, normalQuantile, zeroProbability } from './distributions.ts';
import type { NoiseSample } from './noise-stats.ts';

const DAY_MS = 86_400_000;

export interface ShapeTests {
  /** The most frequent error value, its count, and a bound on P[some value occurs ≥ count times]. */
  mode: { value: number; count: number; p: number };
  /** Binned Pearson χ² of the errors against N_Z(0, σ_i²·scale²); scale = the observed spread (shape only). */
  fit: { chi2: number; df: number; p: number };
  /** Lag-1 correlation of consecutive errors within a day, self-normalised; two-sided p. */
  lag1: { r: number; p: number };
  /** Σ(z_a + z_b)² / Σ(z_a − z_b)² over disjoint adjacent pairs within a day (1 expected), the phase least likely. */
  pairs: { pairs: number; ratio: number; p: number };
  /** Σ (daily error sum)² / (daily Σσ²), over whole UTC days: P[χ²_days ≤ it]. */
  daily: { days: number; p: number };
}

export function shapeTests(samples: readonly NoiseSample[]): ShapeTests {
  const days = byDay(samples);
  return {
    mode: pointMass(samples),
    fit: goodnessOfFit(samples),
    lag1: lagCorrelation(days),
    pairs: pairSums(days),
    daily: dailySums(days),
  };
}

/**
 * Point mass. For any value v and any M intervals, P[all M errors = v] ≤ p_a(v)·Π_{others} p_i(0), and
 * Σ_v p_a(v) = 1, so P[∃v: count(v) ≥ M] ≤ C(n, M)·p_max^(M−1), p_max = max_i P[N_Z(0, σ_i²) = 0] (union bound).
 */
export function pointMass(samples: readonly NoiseSample[]): ShapeTests['mode'] {
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s.error, (counts.get(s.error) ?? 0) + 1);
  let value = 0;
  let count = 0;
  for (const [v, c] of counts) if (c > count) [value, count] = [v, c];
  const n = samples.length;
  const pMax = Math.max(0, ...samples.map((s) => zeroProbability(s.sigma2)));
  if (count < 2 || pMax <= 0) return { value, count, p: 1 };
  const logBinom = logGamma(n + 1) - logGamma(count + 1) - logGamma(n - count + 1);
  return { value, count, p: Math.min(1, Math.exp(logBinom + (count - 1) * Math.log(pMax))) };
}

/** Bins equiprobable under N(0, 1), merged until each expects ≥ 5; χ² on bins − 1 degrees of freedom. */
export function goodnessOfFit(samples: readonly NoiseSample[]): ShapeTests['fit'] {
  const n = samples.length;
  const k = Math.max(2, Math.min(20, Math.floor(n / 10)));
  const cuts = Array.from({ length: k - 1 }, (_, j) => normalQuantile((j + 1) / k));
  // The errors may be larger than declared (no leak, warned about): test the shape at the observed spread.
  const q = samples.reduce((a, s) => a + s.error ** 2 / s.sigma2, 0);
  const scale2 = n > 0 && q > n ? q / n : 1;
  const expected = new Array<number>(k).fill(0);
  const observed = new Array<number>(k).fill(0);
  for (const s of samples) {
    const sigma = Math.sqrt(s.sigma2 * scale2);
    // Integer bounds: bin j holds the integers e with ⌊c_(j−1)σ⌋ < e ≤ ⌊c_jσ⌋.
    const edges = cuts.map((c) => Math.floor(c * sigma));
    const below = edges.map((e) => integerCdf(e, sigma));
    for (let j = 0; j < k; j++) expected[j]! += (below[j] ?? 1) - (j > 0 ? below[j - 1]! : 0);
    const bin = edges.findIndex((e) => s.error <= e);
    observed[bin === -1 ? k - 1 : bin]! += 1;
  }
  const merged: { e: number; o: number }[] = [];
  let acc = { e: 0, o: 0 };
  for (let j = 0; j < k; j++) {
    acc = { e: acc.e + expected[j]!, o: acc.o + observed[j]! };
    if (acc.e >= 5) {
      merged.push(acc);
      acc = { e: 0, o: 0 };
    }
  }
  // A short remainder joins the last bin.
  const last = merged.at(-1);
  if (last) merged[merged.length - 1] = { e: last.e + acc.e, o: last.o + acc.o };
  if (merged.length < 2) return { chi2: 0, df: 0, p: 1 };
  const chi2 = merged.reduce((a, b) => a + (b.o - b.e) ** 2 / b.e, 0);
  const df = merged.length - 1;
  // Estimating the scale leaves the statistic between χ²_(df−1) and χ²_df (Chernoff–Lehmann): df is conservative.
  return { chi2, df, p: 1 - chiSquareCdf(chi2, df) };
}

/**
 * r = Σ z_i z_(i+1) / √Σ (z_i z_(i+1))², z = e/σ, over consecutive errors of a day. The products are martingale
 * differences, conditionally symmetric, so r is close to N(0, 1) and, being self-normalised, immune to the
 * errors' scale; p = 2Φ(−|r|).
 */
export function lagCorrelation(days: readonly NoiseSample[][]): ShapeTests['lag1'] {
  let sum = 0;
  let squares = 0;
  for (const day of days) {
    for (let i = 1; i < day.length; i++) {
      const product = standard(day[i - 1]!) * standard(day[i]!);
      sum += product;
      squares += product ** 2;
    }
  }
  if (squares === 0) return { r: 0, p: 1 };
  const r = sum / Math.sqrt(squares);
  return { r, p: Math.min(1, 2 * normalCdf(-Math.abs(r))) };
}

/**
 * Sums against differences of disjoint adjacent pairs within a day: under the hypothesis u = (z_a + z_b)/√2 and
 * v = (z_a − z_b)/√2 are independent N(0, 1), so F = Σu²/Σv² is F(m, m) whatever the σ_i. Too small: the noise
 * cancels between neighbours (antithetic); too large: it repeats (the difference of two readings exact). Both
 * sides, both phases of pairing (from the first or the second interval of the day): p = 4·min tail.
 */
export function pairSums(days: readonly NoiseSample[][]): ShapeTests['pairs'] {
  let pairs = 0;
  let ratio = 1;
  let p = 1;
  for (const phase of [0, 1]) {
    let sums = 0;
    let differences = 0;
    let m = 0;
    for (const day of days) {
      for (let i = phase + 1; i < day.length; i += 2) {
        const [a, b] = [standard(day[i - 1]!), standard(day[i]!)];
        sums += (a + b) ** 2;
        differences += (a - b) ** 2;
        m++;
      }
    }
    // No pair, or no noise at all (the other tests judge that): nothing to compare.
    if (m === 0 || sums + differences === 0) continue;
    const f = differences === 0 ? Infinity : sums / differences;
    const below = f === Infinity ? 1 : fCdf(f, m, m);
    const tail = 4 * Math.min(below, 1 - below);
    if (tail < p || pairs === 0) [pairs, ratio, p] = [m, f, tail];
  }
  return { pairs, ratio, p: Math.min(1, p) };
}

/** Whole-day sums of the errors: noise that cancels over a day leaves the daily total exact. */
export function dailySums(days: readonly NoiseSample[][]): ShapeTests['daily'] {
  const q = days.reduce((a, day) => {
    const sum = day.reduce((x, s) => x + s.error, 0);
    return a + sum ** 2 / day.reduce((x, s) => x + s.sigma2, 0);
  }, 0);
  return { days: days.length, p: days.length === 0 ? 1 : chiSquareCdf(q, days.length) };
}

/** The samples by UTC day of their interval's end (one day if they carry no time), in interval order. */
function byDay(samples: readonly NoiseSample[]): NoiseSample[][] {
  const days = new Map<number, NoiseSample[]>();
  for (const s of samples) {
    const day = s.end === undefined ? 0 : Math.floor((s.end - 1) / DAY_MS);
    days.set(day, [...(days.get(day) ?? []), s]);
  }
  return [...days.values()].map((d) => d.sort((a, b) => (a.end ?? 0) - (b.end ?? 0)));
}

const standard = (s: NoiseSample) => s.error / Math.sqrt(s.sigma2);

/** P[N_Z(0, σ²) ≤ e]: by the normal with continuity correction for σ ≥ 4 (error ≪ 1/n), summed below. */
function integerCdf(e: number, sigma: number): number {
  if (sigma >= 4) return normalCdf((e + 0.5) / sigma);
  const width = Math.ceil(12 * sigma) + 1;
  let total = 0;
  let below = 0;
  for (let k = -width; k <= width; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    total += w;
    if (k <= e) below += w;
  }
  return below / total;
}
