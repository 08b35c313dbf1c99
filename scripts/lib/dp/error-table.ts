/**
 * The expected error of noisy neighbourhood releases, measured on the real SGSC consumption data with the gateway's
 * own sampler and accounting (docs/privacy.md §Noise, `npm run dp-table`).
 *
 * The data holds 35 households over many days, so a neighbourhood of N households is N household-days drawn at
 * random from different (household, day) pairs: realistic profiles, including their evening peaks and night
 * troughs, at any N. For each N, D such neighbourhood-days are drawn; for each of their 48 half-hours the exact
 * sum (unclipped, what a planner wants) is compared with Σ min(wh, clipWh) + η, η drawn by IntegerSampler from
 * node:crypto with the σ² that noisePlan gives for ε. The table reports the 95th percentile of the relative error
 * |release − exact| / exact over all those half-hours (clipping bias included).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { noisePlan, sigmaOf } from '../../../gateway/aggregate/noise-plan.ts';
import { IntegerSampler } from '../../../gateway/encrypt/discrete-gaussian.ts';

export interface TableOptions {
  file: string;
  sizes: readonly number[];
  epsilons: readonly number[];
  clipWh: number;
  deltaPerDay: number;
  /** Neighbourhood-days drawn per size. */
  days: number;
  sampler?: IntegerSampler;
  /** Uniform [0, 1) for drawing household-days (not for noise). */
  pick?: () => number;
}

/** Complete days (48 half-hours) of every household, in Wh. */
export function householdDays(file: string): number[][] {
  const days = new Map<string, number[]>();
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
  for (const line of lines.slice(1)) {
    const [household, when, kwh] = line.split(',');
    if (!household || !when || kwh === undefined) continue;
    // reading_datetime is the end of the half-hour: 00:30 is slot 0 of its day, 00:00 slot 47 of the day before.
    const end = Date.parse(`${when.replace(' ', 'T')}Z`) - 1;
    const day = new Date(end).toISOString().slice(0, 10);
    const slot = Math.floor((end % 86_400_000) / 1_800_000);
    const key = `${household} ${day}`;
    const values = days.get(key) ?? new Array<number>(48).fill(Number.NaN);
    values[slot] = Math.round(Number(kwh) * 1000);
    days.set(key, values);
  }
  return [...days.values()].filter((d) => d.every((v) => Number.isFinite(v)));
}

export interface Cell {
  size: number;
  epsilon: number;
  sigma: number;
  /** Mean exact half-hourly sum of this size's neighbourhoods (Wh). */
  meanSumWh: number;
  /** 95th percentile of the relative error. */
  p95: number;
  /** Median relative error. */
  p50: number;
}

export function errorTable(o: TableOptions): Cell[] {
  const days = householdDays(o.file);
  const sampler = o.sampler ?? new IntegerSampler();
  const pick = o.pick ?? Math.random;
  const cells: Cell[] = [];
  for (const size of o.sizes) {
    // The same neighbourhood-days for every ε, so that columns differ by the noise only.
    const hoods = Array.from({ length: o.days }, () =>
      Array.from({ length: size }, () => days[Math.floor(pick() * days.length)]!),
    );
    const sums = hoods.flatMap((hood) =>
      Array.from({ length: 48 }, (_, slot) => ({
        exact: hood.reduce((s, d) => s + d[slot]!, 0),
        clipped: hood.reduce((s, d) => s + Math.min(d[slot]!, o.clipWh), 0),
      })),
    );
    const meanSumWh = sums.reduce((s, x) => s + x.exact, 0) / sums.length;
    for (const epsilon of o.epsilons) {
      const plan = noisePlan({
        epsilonPerDay: epsilon,
        deltaPerDay: o.deltaPerDay,
        clipWh: o.clipWh,
        intervalMinutes: 30,
      });
      const errors = sums
        .filter((x) => x.exact > 0)
        .map((x) => {
          const released = x.clipped + Number(sampler.truncatedGaussian(plan.sigma2, plan.bound));
          return Math.abs(released - x.exact) / x.exact;
        })
        .sort((a, b) => a - b);
      const at = (q: number) => errors[Math.min(errors.length - 1, Math.floor(q * errors.length))]!;
      cells.push({ size, epsilon, sigma: sigmaOf(plan), meanSumWh, p95: at(0.95), p50: at(0.5) });
    }
  }
  return cells;
}

/** The table as Markdown: one row per size, one column per ε, "p95 (median)" in percent. */
export function markdown(cells: readonly Cell[], epsilons: readonly number[]): string {
  const sizes = [...new Set(cells.map((c) => c.size))];
  const pct = (x: number) => (x >= 10 ? `${Math.round(x)}×` : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`);
  const lines = [
    `| households | mean sum | ${epsilons.map((e) => `ε = ${e}`).join(' | ')} |`,
    `|---:|---:|${epsilons.map(() => '---:').join('|')}|`,
  ];
  for (const size of sizes) {
    const row = cells.filter((c) => c.size === size);
    lines.push(
      `| ${size} | ${(row[0]!.meanSumWh / 1000).toFixed(1)} kWh | ` +
        `${epsilons
          .map((e) => row.find((c) => c.epsilon === e)!)
          .map((c) => `${pct(c.p95)} (${pct(c.p50)})`)
          .join(' | ')} |`,
    );
  }
  const sigmas = epsilons.map(
    (e) => `ε = ${e}: σ = ${Math.round(cells.find((c) => c.epsilon === e)!.sigma)} Wh`,
  );
  return `${lines.join('\n')}\n\n${sigmas.join('; ')}\n`;
}
