/**
 * The privacy accounting of neighbourhood releases (DESIGN.md invariant 2; docs/privacy.md §Noise). Neighbouring
 * datasets differ by one household added or removed. A household is one meter in one neighbourhood, and each
 * (neighbourhood, interval) is released once, so a day holds R = 1440 / intervals.minutes releases of it; any 24
 * hours do, whatever the local clock does, because intervals are cut in UTC.
 *
 * One release adds discrete Gaussian noise of variance σ² to a sum whose readings are clipped to Δ = clipWh: it is
 * ρ = Δ²/(2σ²)-zCDP (Canonne, Kamath, Steinke 2020, Thm 14). R of them compose to ρ_day = R·ρ (Bun, Steinke 2016,
 * Lemma 2.3), which is (ε, δ)-DP with ε = ρ_day + 2·√(ρ_day·ln(1/δ)) (ibid., Prop. 1.3). Given ε and δ per day the
 * plan solves for ρ_day, then σ² = Δ²·R / (2·ρ_day), rounded UP to a rational so the noise is never smaller than
 * the budget needs. Floating point is used here only for this accounting, never in sampling.
 */
import { GatewayError } from '../errors.ts';
import { isqrt, type Rational } from '../encrypt/discrete-gaussian.ts';

export interface NoiseSettings {
  epsilonPerDay: number;
  deltaPerDay: number;
  clipWh: number;
  intervalMinutes: number;
}

export interface NoisePlan {
  readonly mechanism: 'discrete-gaussian';
  readonly sigma2: Rational;
  /** B: the noise is truncated to [−B, B] and released with the offset B added (so the field stays ≥ 0). */
  readonly bound: bigint;
  readonly clipWh: number;
  readonly epsilonPerDay: number;
  readonly deltaPerDay: number;
  readonly releasesPerDay: number;
  /** ρ per day actually spent with the rounded-up σ² (≤ what ε and δ allow). */
  readonly rhoPerDay: number;
}

/** σ² is stored with this denominator: fine enough for any clip ≥ 1 Wh. */
const SIGMA2_DEN = 1000n;

/** How much σ² is raised before rounding up, so the float error of the accounting can only add noise. */
const FLOAT_MARGIN = 1e-9;

/** Truncation at B = Δ + 13σ: P[|η| > 13σ] ≤ 2·exp(−84.5) < 2^−120 per release (CKS Prop. 25: σ²-subgaussian). */
const TAIL_SIGMAS = 13n;

/** ρ for (ε, δ): the positive root of ρ + 2√(ρ·L) = ε with L = ln(1/δ). */
export function rhoFor(epsilon: number, delta: number): number {
  const l = Math.log(1 / delta);
  const root = Math.sqrt(l + epsilon) - Math.sqrt(l);
  return root * root;
}

/** ε for (ρ, δ) (Bun, Steinke 2016, Prop. 1.3). */
export function epsilonFor(rho: number, delta: number): number {
  return rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
}

export function noisePlan(s: NoiseSettings): NoisePlan {
  if (!(s.epsilonPerDay > 0) || !(s.deltaPerDay > 0 && s.deltaPerDay < 1)) {
    throw new GatewayError('CONFIG_INVALID', 'privacy.noise: ε per day must be > 0 and δ per day in (0, 1)');
  }
  if (!Number.isInteger(s.clipWh) || s.clipWh < 1) {
    throw new GatewayError('CONFIG_INVALID', 'privacy.noise.clipWh must be a whole number of Wh ≥ 1');
  }
  const releasesPerDay = 1440 / s.intervalMinutes;
  const rhoBudget = rhoFor(s.epsilonPerDay, s.deltaPerDay);
  const sigma2 = (s.clipWh * s.clipWh * releasesPerDay) / (2 * rhoBudget);
  const num = BigInt(Math.ceil(sigma2 * (1 + FLOAT_MARGIN) * Number(SIGMA2_DEN))) + 1n;
  if (num > BigInt(Number.MAX_SAFE_INTEGER) * SIGMA2_DEN) {
    throw new GatewayError(
      'CONFIG_INVALID',
      'privacy.noise: this ε and δ need noise far larger than any sum; raise epsilonPerDay or lower clipWh',
    );
  }
  const rational = { num, den: SIGMA2_DEN };
  const rhoPerDay = (s.clipWh * s.clipWh * releasesPerDay * Number(SIGMA2_DEN)) / (2 * Number(num));
  // Guards the rounding: the releases of a day must never spend more than the configured budget.
  if (epsilonFor(rhoPerDay, s.deltaPerDay) > s.epsilonPerDay) {
    throw new GatewayError('CONFIG_INVALID', 'privacy.noise: the releases of a day would exceed ε per day');
  }
  return {
    mechanism: 'discrete-gaussian',
    sigma2: rational,
    bound: BigInt(s.clipWh) + ceilSqrt((TAIL_SIGMAS * TAIL_SIGMAS * num + SIGMA2_DEN - 1n) / SIGMA2_DEN),
    clipWh: s.clipWh,
    epsilonPerDay: s.epsilonPerDay,
    deltaPerDay: s.deltaPerDay,
    releasesPerDay,
    rhoPerDay,
  };
}

/** σ of a plan, for error bounds and reports (not for sampling). */
export function sigmaOf(plan: Pick<NoisePlan, 'sigma2'>): number {
  return Math.sqrt(Number(plan.sigma2.num) / Number(plan.sigma2.den));
}

/** The half-width of the 95 % interval of the noise: 1.96σ (the discrete Gaussian's quantiles are the normal's). */
export function bound95(plan: Pick<NoisePlan, 'sigma2'>): number {
  return 1.96 * sigmaOf(plan);
}

function ceilSqrt(n: bigint): bigint {
  const r = isqrt(n);
  return r * r === n ? r : r + 1n;
}

/** "num/den", the wire form of σ² (docs/protocol.md). */
export function rationalText(r: Rational): string {
  return `${r.num}/${r.den}`;
}
