/**
 * The padding attack of issue #14 against what differential privacy leaves, played on the supplier's data: for
 * each release of a neighbourhood made of the household and the meters the auditor controls, the estimate of the
 * household's reading is the released sum minus the known meters' readings (clipped as the release states); its
 * error against the household's true (clipped) reading is what the noise left. Also checks what each release
 * declares: noise at all, σ² enough for its stated ε, δ, clip and releases per day (the zCDP accounting of
 * gateway/aggregate/noise-plan.ts), as many releases per day as its intervals make, one release per interval.
 * Pure: rows and readings in, samples and findings out.
 */
import { epsilonFor } from '../../../gateway/aggregate/noise-plan.ts';
import type { AggregateRow } from '../mdms/store.ts';
import type { Row } from '../reference-sums.ts';
import type { NoiseSample } from './noise-stats.ts';

/** What a release states about its noise (the record's `noise`, docs/protocol.md §Aggregate). */
interface DeclaredNoise {
  mechanism: string;
  sigma2: string;
  clipWh: number;
  epsilonPerDay: number;
  deltaPerDay: number;
  releasesPerDay: number;
}

/** The settings the gateway publishes; a release stating weaker ones fails (optional). */
export interface Published {
  epsilonPerDay?: number;
  deltaPerDay?: number;
  clipWh?: number;
}

export interface PaddingResult {
  /** Releases of the neighbourhood in the supplier's data. */
  releases: number;
  samples: NoiseSample[];
  /** Releases not compared, by reason. */
  skipped: Map<string, number>;
  /** Each distinct noise declaration, as one line. */
  declarations: string[];
  /** What fails whatever the statistics say. */
  failures: string[];
}

/** Relative slack on ε spent: the gateway's own accounting rounds σ² up, so only float noise is tolerated. */
const EPSILON_SLACK = 1e-9;

export function playPadding(
  rows: readonly AggregateRow[],
  known: readonly Row[],
  truth: readonly Row[],
  published: Published = {},
): PaddingResult {
  const knownAt = new Map(known.map((r) => [`${r.household} ${r.end}`, r.wh]));
  // One household's readings (the command keeps only --household's).
  const truthAt = new Map(truth.map((r) => [r.end, r.wh]));
  const households = new Set(known.map((r) => r.household));
  const result: PaddingResult = {
    releases: rows.length,
    samples: [],
    skipped: new Map(),
    declarations: [],
    failures: [],
  };
  const skip = (why: string) => result.skipped.set(why, (result.skipped.get(why) ?? 0) + 1);
  const seenNoise = new Set<string>();
  const seenIntervals = new Set<string>();
  for (const row of rows) {
    if (seenIntervals.has(row.interval_start)) {
      result.failures.push(`interval ${row.interval_start} released twice: its noise can be averaged away`);
    }
    seenIntervals.add(row.interval_start);
    if (!row.noise || row.bound95_wh === null) {
      result.failures.push(`the release of ${row.interval_start} declares no noise: it is an exact sum`);
      continue;
    }
    const noise = JSON.parse(row.noise) as DeclaredNoise;
    if (!seenNoise.has(row.noise)) {
      seenNoise.add(row.noise);
      const minutes = (Date.parse(row.interval_end) - Date.parse(row.interval_start)) / 60_000;
      const { line, failures } = checkDeclaration(noise, minutes, published);
      result.declarations.push(line);
      result.failures.push(...failures);
    }
    if (row.meters !== households.size + 1) {
      skip('other members than the known meters and the household');
      continue;
    }
    const end = Date.parse(row.interval_end);
    const knownWh = [...households].map((h) => knownAt.get(`${h} ${end}`));
    const truthWh = truthAt.get(end);
    if (truthWh === undefined || knownWh.some((wh) => wh === undefined)) {
      skip('a known meter or the household has no reading for the interval');
      continue;
    }
    const clip = (wh: number) => Math.min(wh, noise.clipWh);
    const estimate = row.total_wh - knownWh.reduce((a: number, wh) => a + clip(wh!), 0);
    result.samples.push({
      error: estimate - clip(truthWh),
      sigma2: sigma2Of(noise),
      bound95: row.bound95_wh,
      end,
    });
  }
  return result;
}

/** One line describing a declaration, and what is wrong with it. */
function checkDeclaration(
  noise: DeclaredNoise,
  intervalMinutes: number,
  published: Published,
): { line: string; failures: string[] } {
  const failures: string[] = [];
  const sigma2 = sigma2Of(noise);
  // ρ per day spent with the declared σ² (R releases of Δ²/2σ² each), and the ε it costs at the stated δ.
  const rho = (noise.clipWh ** 2 * noise.releasesPerDay) / (2 * sigma2);
  const spent = epsilonFor(rho, noise.deltaPerDay);
  const line =
    `${noise.mechanism} σ = ${Math.sqrt(sigma2).toFixed(1)} Wh, clip ${noise.clipWh} Wh, ` +
    `ε ${noise.epsilonPerDay}/day, δ ${noise.deltaPerDay}/day, ${noise.releasesPerDay} releases/day ` +
    `(ε spent ${spent.toPrecision(6)})`;
  if (noise.mechanism !== 'discrete-gaussian') failures.push(`unknown noise mechanism ${noise.mechanism}`);
  if (spent > noise.epsilonPerDay * (1 + EPSILON_SLACK)) {
    failures.push(
      `σ² too small for the stated budget: ε spent ${spent.toPrecision(6)} > ${noise.epsilonPerDay}`,
    );
  }
  if (noise.releasesPerDay * intervalMinutes < 1440) {
    failures.push(
      `${noise.releasesPerDay} releases/day stated, but ${intervalMinutes}-minute intervals make ${1440 / intervalMinutes}`,
    );
  }
  const weaker = (name: string, stated: number, promised: number | undefined) => {
    if (promised !== undefined && stated > promised)
      failures.push(`${name} ${stated} stated, ${promised} published`);
  };
  weaker('ε per day', noise.epsilonPerDay, published.epsilonPerDay);
  weaker('δ per day', noise.deltaPerDay, published.deltaPerDay);
  weaker('clipWh', noise.clipWh, published.clipWh);
  return { line, failures };
}

function sigma2Of(noise: DeclaredNoise): number {
  const [num, den] = noise.sigma2.split('/').map(Number);
  return num! / den!;
}
