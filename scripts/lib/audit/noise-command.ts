/**
 * `scripts/audit noise`: the auditor's check of the noise on a live gateway's releases (issue #14 B, docs/privacy.md
 * "Audit the noise"). It reads the supplier's data (the reference MDMS database, which keeps each released sum with
 * its noise parameters), plays the padding attack with the readings of the meters the auditor controls, compares
 * the estimate with the household's true readings, and judges the error with noise-stats.ts.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GatewayError } from '../../../gateway/errors.ts';
import { UsageError } from '../cli.ts';
import type { AggregateRow } from '../mdms/store.ts';
import { readFixture, type Row } from '../reference-sums.ts';
import { playPadding, type PaddingResult, type Published } from './noise-padding.ts';
import { judgeNoise, type NoiseJudgement } from './noise-stats.ts';

export const NOISE_HELP = `Usage: scripts/audit noise --mdms-db FILE --neighbourhood ID --known CSV --truth CSV [options]

Plays the padding attack against the noise of a gateway's releases, with the supplier's data: for each release of
the neighbourhood made of the household and the meters in --known (and no other), the household's reading is
estimated as the released sum minus the known meters' readings (each clipped to the clip the release states), and
compared with its true reading in --truth (in a real audit the household lends it). Prints the intervals compared,
the exact hits, the mean error, the attacker's error SD against the σ the releases declare, the share of errors
within each release's 95 % interval, and a verdict.

Statistical rule (α = --alpha, 1e-6 by default, for each of the 7 tests: a false FAIL of the gateway's own noise
has probability ≤ 7α; the errors are judged as independent draws of the discrete Gaussian N_Z(0, σ_i²) each
release declares, z_i = e_i/σ_i, in interval order):
  exact hits  FAIL if P[H ≥ h] < α, H Poisson-binomial with p_i = P[N_Z(0, σ_i²) = 0] ≈ 1/(σ_i·√(2π))
  spread      FAIL if P[χ²_n ≤ Σ e_i²/σ_i²] < α (the error spread far below the declared σ)
  point mass  FAIL if C(n, M)·max_i P[N_Z(0, σ_i²) = 0]^(M−1) < α, M the count of the most frequent error
  shape       FAIL if the binned Pearson χ² of the errors against N_Z(0, σ_i²) (bins equiprobable under N(0, 1),
              each expecting ≥ 5; σ_i scaled up to the observed spread if that is larger) has P < α
  lag-1       FAIL if 2Φ(−|Σ z_i z_(i+1)| / √Σ (z_i z_(i+1))²) < α, consecutive intervals of a UTC day
  pair sums   F = Σ (z_a + z_b)²/Σ (z_a − z_b)² over the m disjoint adjacent pairs of a day is F(m, m): FAIL if
              4·min(P[F(m, m) ≤ F], P[F(m, m) ≥ F]) < α for either phase of pairing (noise that cancels between
              neighbours, or repeats)
  daily sums  FAIL if P[χ²_d ≤ Σ (Σ_day e)²/(Σ_day σ²)] < α over the d UTC days (noise that cancels over a day)
PASS is necessary, not sufficient: noise drawn from a seed an attacker knows (public data, a fixed key) has the
right shape and independence and cannot be told from the outputs; and the audit trusts the supplier's database it
reads (the aggregates table holds decrypted numbers, not the signed batches). Cross-check the release count and
sums with the privacy authority's log of what it co-decrypted (docs/key-ceremony.md) and with the signed batches.
Only --neighbourhood is examined: a household released under another neighbourhood id (with meters the auditor
does not control) is out of this audit's view; the other neighbourhoods in the database are listed.
It also FAILS when a release declares no noise, states σ² too small for its own ε, δ, clip and releases per day
(zCDP accounting of gateway/aggregate/noise-plan.ts: ε = ρ + 2√(ρ·ln(1/δ)), ρ = clip²·R/(2σ²)), states fewer
releases per day than its intervals make, or weaker settings than --epsilon-per-day/--delta-per-day/--clip-wh,
or when an interval was released twice. Fewer than --min-intervals compared: INCONCLUSIVE.

Options:
  --mdms-db FILE         the reference MDMS database (scripts/mdms --db), read only
  --neighbourhood ID     the neighbourhood of the household and the known meters
  --known CSV            readings of the meters the auditor controls (customer_id,reading_datetime,
                         general_supply_kwh, as data/ and the emulators use): every household in it is known
  --truth CSV            the household's true readings, same format
  --household ID         the household in --truth (needed if it holds more than one)
  --gateway ID           only releases of this gateway
  --epsilon-per-day E, --delta-per-day D, --clip-wh C
                         the settings the gateway publishes: a release stating weaker ones FAILS
  --alpha A              level of each test (default 1e-6)
  --min-intervals N      fewest intervals for a verdict (default 30)
  --json                 print the result as one JSON object
  -h, --help             show this help

Exit code: 0 PASS, 1 FAIL or INCONCLUSIVE, 2 usage.`;

export interface NoiseAudit {
  verdict: NoiseJudgement['verdict'];
  neighbourhood: string;
  /** The other neighbourhoods in the supplier's data, with their releases: not examined. */
  notExamined: Record<string, number>;
  releases: number;
  skipped: Record<string, number>;
  declarations: string[];
  failures: string[];
  judgement: NoiseJudgement;
}

export function auditNoise(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'mdms-db': { type: 'string' },
      neighbourhood: { type: 'string' },
      known: { type: 'string' },
      truth: { type: 'string' },
      household: { type: 'string' },
      gateway: { type: 'string' },
      'epsilon-per-day': { type: 'string' },
      'delta-per-day': { type: 'string' },
      'clip-wh': { type: 'string' },
      alpha: { type: 'string', default: '1e-6' },
      'min-intervals': { type: 'string', default: '30' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return Promise.resolve(void console.log(NOISE_HELP));
  const db = values['mdms-db'];
  const nb = values.neighbourhood;
  if (!db || !nb || !values.known || !values.truth) {
    throw new UsageError('--mdms-db, --neighbourhood, --known and --truth are required', NOISE_HELP);
  }
  const alpha = positive('--alpha', values.alpha);
  const minIntervals = positive('--min-intervals', values['min-intervals']);
  const published: Published = {};
  if (values['epsilon-per-day'])
    published.epsilonPerDay = positive('--epsilon-per-day', values['epsilon-per-day']);
  if (values['delta-per-day']) published.deltaPerDay = positive('--delta-per-day', values['delta-per-day']);
  if (values['clip-wh']) published.clipWh = positive('--clip-wh', values['clip-wh']);

  const known = readings('--known', values.known);
  const truth = household(readings('--truth', values.truth), values.household);
  if (known.some((r) => r.household === truth[0]?.household)) {
    throw new UsageError(`household ${truth[0]!.household} is in --known too`, NOISE_HELP);
  }
  const supplier = releases(db, nb, values.gateway);
  const result = playPadding(supplier.rows, known, truth, published);
  const judgement = judgeNoise(result.samples, alpha, minIntervals);
  const audit = summary(nb, result, judgement, supplier.others);
  console.log(
    values.json ? JSON.stringify(audit) : report(audit, new Set(known.map((r) => r.household)).size),
  );
  if (audit.verdict !== 'PASS') {
    throw new GatewayError(
      'PRIVACY_FLOOR',
      audit.verdict === 'FAIL'
        ? `FAIL: ${[...audit.failures, ...judgement.reasons].join('; ')}`
        : `INCONCLUSIVE: ${judgement.n} interval(s) compared, at least ${minIntervals} needed`,
    );
  }
  return Promise.resolve();
}

function summary(
  neighbourhood: string,
  result: PaddingResult,
  judgement: NoiseJudgement,
  notExamined: Record<string, number>,
): NoiseAudit {
  const failed = result.failures.length > 0 || judgement.verdict === 'FAIL';
  return {
    verdict: failed ? 'FAIL' : judgement.verdict,
    neighbourhood,
    notExamined,
    releases: result.releases,
    skipped: Object.fromEntries(result.skipped),
    declarations: result.declarations,
    failures: result.failures,
    judgement,
  };
}

function report(a: NoiseAudit, knownMeters: number): string {
  const j = a.judgement;
  const t = j.shape;
  const skipped = Object.entries(a.skipped).map(([why, n]) => `${n}: ${why}`);
  const p = (x: number) => x.toPrecision(2);
  const others = Object.entries(a.notExamined).map(([nb, n]) => `${nb} (${n})`);
  return [
    `noise audit of neighbourhood ${a.neighbourhood}: released sum minus ${knownMeters} known meter(s)`,
    `  not examined                     ${others.length ? others.join(', ') : 'no other neighbourhood'} ` +
      "in the supplier's data; a household released under another id is out of this audit's view",
    `  releases in the supplier's data  ${a.releases}${skipped.length ? ` (skipped ${skipped.join('; ')})` : ''}`,
    ...a.declarations.map((d) => `  declared noise                   ${d}`),
    `  intervals compared               ${j.n}`,
    `  exact hits                       ${j.exact} (by chance: ${j.exactExpected.toFixed(2)} expected, ` +
      `P[≥ ${j.exact}] = ${j.exactP.toPrecision(2)})`,
    `  mean error                       ${j.meanError.toFixed(1)} Wh (standard error ${j.meanSe.toFixed(1)} Wh)`,
    `  attacker's error SD              ${j.errorSd.toFixed(1)} Wh vs declared σ ${j.sigma.toFixed(1)} Wh ` +
      `(ratio ${j.sigma > 0 ? (j.errorSd / j.sigma).toFixed(2) : '∞'}; P[χ² ≤ Σe²/σ²] = ${j.spreadLowP.toPrecision(2)})`,
    `  95 % interval coverage           ${(100 * j.coverage95).toFixed(1)} % (declared 95 %)`,
    `  most frequent error              ${t.mode.value} Wh, ${t.mode.count} time(s) (P ≤ ${p(t.mode.p)})`,
    `  shape vs discrete Gaussian       binned χ² ${t.fit.chi2.toFixed(1)} on ${t.fit.df} df (P = ${p(t.fit.p)})`,
    `  lag-1 correlation                ${t.lag1.r.toFixed(2)} (P = ${p(t.lag1.p)})`,
    `  sums of adjacent pairs           ${t.pairs.pairs} pairs, Σ sum²/Σ difference² ${t.pairs.ratio.toFixed(2)} ` +
      `(P = ${p(t.pairs.p)})`,
    `  daily sums                       ${t.daily.days} day(s) (P[as exact] = ${p(t.daily.p)})`,
    ...[...a.failures, ...j.reasons].map((r) => `  FAIL: ${r}`),
    ...j.warnings.map((w) => `  warning: ${w}`),
    `verdict: ${a.verdict}`,
  ].join('\n');
}

/**
 * The neighbourhood's releases, and how many releases each other neighbourhood has (listed as not examined), read
 * only: the supplier's database is not the auditor's to change.
 */
function releases(
  file: string,
  neighbourhood: string,
  gateway: string | undefined,
): { rows: AggregateRow[]; others: Record<string, number> } {
  if (!existsSync(file)) throw new UsageError(`--mdms-db ${file}: no such file`, NOISE_HELP);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const gw = gateway ?? null;
  try {
    const rows = db
      .prepare<[string, string | null, string | null], AggregateRow>(
        'SELECT * FROM aggregates WHERE neighbourhood = ? AND (? IS NULL OR gateway = ?) ORDER BY interval_start',
      )
      .all(neighbourhood, gw, gw);
    const others = db
      .prepare<[string, string | null, string | null], { neighbourhood: string; n: number }>(
        'SELECT neighbourhood, COUNT(*) AS n FROM aggregates WHERE neighbourhood <> ? AND (? IS NULL OR gateway = ?) ' +
          'GROUP BY neighbourhood ORDER BY neighbourhood',
      )
      .all(neighbourhood, gw, gw);
    return { rows, others: Object.fromEntries(others.map((o) => [o.neighbourhood, o.n])) };
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', `${file} is not a reference MDMS database`, { cause });
  } finally {
    db.close();
  }
}

function readings(flag: string, file: string): Row[] {
  if (!existsSync(file)) throw new UsageError(`${flag} ${file}: no such file`, NOISE_HELP);
  const rows = readFixture(file);
  if (rows.some((r) => !Number.isFinite(r.end) || !Number.isFinite(r.wh))) {
    throw new UsageError(
      `${flag} ${file}: not a customer_id,reading_datetime,general_supply_kwh CSV`,
      NOISE_HELP,
    );
  }
  return rows;
}

function household(rows: Row[], id: string | undefined): Row[] {
  const ids = [...new Set(rows.map((r) => r.household))];
  if (id === undefined && ids.length !== 1) {
    throw new UsageError(`--truth holds ${ids.length} households: name one with --household`, NOISE_HELP);
  }
  const picked = rows.filter((r) => r.household === (id ?? ids[0]));
  if (picked.length === 0) throw new UsageError(`--truth has no readings of household ${id}`, NOISE_HELP);
  return picked;
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!(n > 0)) throw new UsageError(`${flag} must be a positive number`, NOISE_HELP);
  return n;
}
