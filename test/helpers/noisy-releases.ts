/**
 * The supplier's rows of a trap neighbourhood (one household among known meters) as the reference MDMS stores them,
 * built from the real consumption fixture and noise drawn by the gateway's own sampler: for the tests of
 * `scripts/audit noise` without a gateway run.
 */
import { noisePlan, rationalText, type NoisePlan } from '../../gateway/aggregate/noise-plan.ts';
import { IntegerSampler } from '../../gateway/encrypt/discrete-gaussian.ts';
import type { AggregateRow } from '../../scripts/lib/mdms/store.ts';
import type { Row } from '../../scripts/lib/reference-sums.ts';
import { seededRandom } from './seeded-random.ts';

/** The gateway's defaults: ε = 100, δ = 10⁻⁶ per day, clip 1000 Wh, half-hourly (σ ≈ 705 Wh). */
export const DEFAULT_PLAN = noisePlan({
  epsilonPerDay: 100,
  deltaPerDay: 1e-6,
  clipWh: 1000,
  intervalMinutes: 30,
});

const HALF_HOUR = 30 * 60_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

export interface TrapOptions {
  /** The noise of each release (default: drawn at the plan's σ², seeded). */
  noise?: (i: number) => bigint;
  plan?: NoisePlan;
  /** Changes to the record's noise declaration. */
  declare?: Record<string, unknown>;
}

/** One release per interval where the victim and every known household have a reading, in interval order. */
export function trapReleases(
  rows: readonly Row[],
  victim: string,
  known: readonly string[],
  o: TrapOptions = {},
): AggregateRow[] {
  const plan = o.plan ?? DEFAULT_PLAN;
  const sampler = new IntegerSampler(seededRandom(`trap ${victim}`));
  const draw = o.noise ?? (() => sampler.truncatedGaussian(plan.sigma2, plan.bound));
  const at = new Map(rows.map((r) => [`${r.household} ${r.end}`, r.wh]));
  const ends = [...new Set(rows.filter((r) => r.household === victim).map((r) => r.end))].sort(
    (a, b) => a - b,
  );
  const clip = (wh: number) => Math.min(wh, plan.clipWh);
  const noise = JSON.stringify({
    mechanism: plan.mechanism,
    sigma2: rationalText(plan.sigma2),
    offset: plan.bound.toString(),
    clipWh: plan.clipWh,
    epsilonPerDay: plan.epsilonPerDay,
    deltaPerDay: plan.deltaPerDay,
    releasesPerDay: plan.releasesPerDay,
    ...o.declare,
  });
  return ends
    .filter((end) => known.every((h) => at.has(`${h} ${end}`)))
    .map((end, i) => ({
      record_id: `agg-trap-${end}`,
      gateway: 'gw-test',
      neighbourhood: 'trap',
      interval_start: iso(end - HALF_HOUR),
      interval_end: iso(end),
      meters: known.length + 1,
      k: 5,
      total_wh: [victim, ...known].reduce((a, h) => a + clip(at.get(`${h} ${end}`)!), 0) + Number(draw(i)),
      bands: null,
      bound95_wh: 1.96 * Math.sqrt(Number(plan.sigma2.num) / Number(plan.sigma2.den)),
      noise,
    }));
}
