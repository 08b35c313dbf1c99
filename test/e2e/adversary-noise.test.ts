/**
 * The padding attack of issue #14 against what differential privacy leaves: the operator (with `scripts/operator`)
 * adds a new neighbourhood holding one new household and four meters whose readings it knows, all on fresh
 * replay sources (re-used sources and ids are refused by the device binding, tested elsewhere); the supplier's
 * MDMS decrypts every release (real Mosquitto, real gateway process, its CSPRNG), and the attacker exports the
 * sums with `scripts/mdms export` and subtracts the four known meters. What remains is the household's clipped
 * reading plus the gateway's noise: never exact but by the chance the noise allows, with the spread σ the
 * release states.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { readFixture } from '../helpers/consumption.ts';
import { operatorRig, type RawConfig } from '../helpers/operator.ts';
import { runCli } from '../helpers/run-cli.ts';
import { TEST_METERS, waitFor } from '../helpers/scenario.ts';

const MDMS = path.resolve(import.meta.dirname, '../../scripts/mdms');
const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-11T00:00:00Z';
const HALF_HOUR = 30 * 60_000;

/** Households of the fixture that no other meter of the scenario reads: the victim first, then the known four. */
const VICTIM = '10017482';
const KNOWN = ['10017490', '10017554', '10017562', '10017936'];
const TRAP = [VICTIM, ...KNOWN].map((household, i) => ({
  id: `t${i + 1}`,
  household,
  neighbourhood: 'trap',
  account: `ACC-T${i + 1}`,
}));
/** Releases needed before the statistics are judged (two days hold 96). */
const RELEASES = 60;

describe('adversary: padding a household with known meters, against the noise', () => {
  let h: Harness;
  let operator: ReturnType<typeof operatorRig>;

  beforeAll(async () => {
    h = await startHarness({
      from: FROM,
      to: TO,
      speed: 3600,
      anchor: new Date(Date.now() + 20_000).toISOString(),
      graceMinutes: { intervals: 60, billing: 120 },
      // The trap's households are in the replayed CSV; the gateway starts without them (the operator adds them).
      meters: [...TEST_METERS.filter((m) => m.neighbourhood === 'north'), ...TRAP],
    });
    operator = operatorRig(h, 'trap');
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('leaves the attacker the household plus noise of the stated σ: no exact reading', async () => {
    const gateway = h.spawn();
    await h.waitStarted();
    // The operator's move: a new neighbourhood of one household and four meters it knows.
    const current = await operator('get');
    expect(current.code, current.stderr).toBe(0);
    const config = parse(current.stdout) as RawConfig;
    config.neighbourhoods.push({ id: 'trap' });
    for (const m of TRAP) {
      config.meters.push({
        id: m.id,
        neighbourhood: 'trap',
        account: m.account,
        source: { driver: 'replay', household: m.household },
      });
    }
    const file = path.join(h.scenario.dir, 'trap.yaml');
    writeFileSync(file, stringify(config));
    const added = await operator('set', '--file', file);
    expect(added.code, added.stderr).toBe(0);

    // The supplier decrypts every release of the trap.
    const trapRows = () => h.store.aggregates().filter((a) => a.neighbourhood === 'trap' && a.meters === 5);
    await waitFor(() => trapRows().length >= RELEASES, 240_000, `${RELEASES} releases of the trap`);
    expect(gateway.child.exitCode).toBeNull();

    // The attacker: the supplier's export, minus the known meters (clipped with the clip each release states).
    const exported = await runCli(MDMS, [
      'export',
      '--what',
      'aggregates',
      '--db',
      path.join(h.scenario.dir, 'mdms.sqlite'),
    ]);
    expect(exported.code, exported.stderr).toBe(0);
    const [head, ...lines] = exported.stdout.trim().split('\n');
    const col = (name: string) => head!.split(',').indexOf(name);
    const rows = lines
      .map((l) => l.split(','))
      .filter((c) => c[col('neighbourhood')] === 'trap' && c[col('meters')] === '5');
    const wh = new Map(readFixture().map((r) => [`${r.household} ${r.end}`, r.wh]));
    const errors: number[] = [];
    let sigma = 0;
    for (const c of rows) {
      const end = Date.parse(c[col('interval_start')]!) + HALF_HOUR;
      const clip = Number(c[col('clip_wh')]);
      const known = KNOWN.reduce((sum, hh) => sum + Math.min(wh.get(`${hh} ${end}`)!, clip), 0);
      const estimate = Number(c[col('total_wh')]) - known;
      errors.push(estimate - Math.min(wh.get(`${VICTIM} ${end}`)!, clip));
      sigma = Number(c[col('bound95_wh')]) / 1.96;
    }
    const n = errors.length;
    expect(n).toBeGreaterThanOrEqual(RELEASES);
    // σ ≈ 705 Wh at the defaults (ε = 100, δ = 10⁻⁶ per day, clipWh 1000, 48 releases a day).
    expect(sigma).toBeGreaterThan(500);

    // Exact estimates: the discrete Gaussian draws 0 with probability ≈ 1/(σ√(2π)) ≈ 6·10⁻⁴; three or more in
    // n ≤ 96 releases happen with probability < 10⁻⁵.
    expect(errors.filter((e) => e === 0).length).toBeLessThanOrEqual(2);
    // The spread is the noise's: with n ≥ 60, the sample sd falls outside [0.5σ, 1.6σ] with probability < 10⁻⁹
    // (chi-square with n − 1 degrees of freedom), and the mean is within 5 standard errors of 0.
    const mean = errors.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(errors.reduce((a, e) => a + (e - mean) ** 2, 0) / (n - 1));
    expect(sd / sigma).toBeGreaterThan(0.5);
    expect(sd / sigma).toBeLessThan(1.6);
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(n));
    // No release was re-drawn: one row per interval.
    expect(new Set(rows.map((c) => c[col('interval_start')])).size).toBe(rows.length);
  }, 400_000);
});
