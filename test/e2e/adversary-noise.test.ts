/**
 * The padding attack of issue #14 against what differential privacy leaves: the operator (with `scripts/operator`)
 * adds a new neighbourhood holding one new household and four meters whose readings it knows, all on fresh
 * replay sources (re-used sources and ids are refused by the device binding, tested elsewhere); the supplier's
 * MDMS decrypts every release (real Mosquitto, real gateway process, its CSPRNG), and the auditor's own tool,
 * `scripts/audit noise`, subtracts the four known meters from the supplier's sums. What remains is the household's
 * clipped reading plus the gateway's noise: never exact but by the chance the noise allows, with the spread σ the
 * release states.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.ts';
import type { NoiseAudit } from '../../scripts/lib/audit/noise-command.ts';
import { readFixture, writeSlice } from '../helpers/consumption.ts';
import { operatorRig, type RawConfig } from '../helpers/operator.ts';
import { runCli } from '../helpers/run-cli.ts';
import { TEST_METERS, waitFor } from '../helpers/scenario.ts';

const AUDIT = path.resolve(import.meta.dirname, '../../scripts/audit');
const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-11T00:00:00Z';

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

    // The auditor's tool plays the attacker: the supplier's database, minus the known meters' readings, against
    // the household's truth (lib/audit/noise-padding.ts, judged by lib/audit/noise-stats.ts).
    const fixture = readFixture();
    const known = path.join(h.scenario.dir, 'known.csv');
    const truth = path.join(h.scenario.dir, 'truth.csv');
    writeSlice(fixture, KNOWN, Date.parse(FROM), Date.parse(TO), known);
    writeSlice(fixture, [VICTIM], Date.parse(FROM), Date.parse(TO), truth);
    const db = path.join(h.scenario.dir, 'mdms.sqlite');
    const args = ['noise', '--mdms-db', db, '--neighbourhood', 'trap', '--known', known, '--truth', truth];
    const audit = await runCli(AUDIT, [...args, '--min-intervals', String(RELEASES), '--json']);
    expect(audit.code, `${audit.stdout}\n${audit.stderr}`).toBe(0);
    const result = JSON.parse(audit.stdout) as NoiseAudit;
    // No release without noise, none re-drawn (one row per interval), every declaration within its budget.
    expect(result.failures).toEqual([]);
    expect(result.verdict).toBe('PASS');
    const j = result.judgement;
    expect(j.n).toBeGreaterThanOrEqual(RELEASES);
    // σ ≈ 705 Wh at the defaults (ε = 100, δ = 10⁻⁶ per day, clipWh 1000, 48 releases a day).
    expect(j.sigma).toBeGreaterThan(500);
    // Exact estimates: the discrete Gaussian draws 0 with probability ≈ 1/(σ√(2π)) ≈ 6·10⁻⁴; three or more in
    // n ≤ 96 releases happen with probability < 10⁻⁵.
    expect(j.exact).toBeLessThanOrEqual(2);
    // The spread is the noise's: with n ≥ 60, the sample sd falls outside [0.5σ, 1.6σ] with probability < 10⁻⁹
    // (chi-square with n − 1 degrees of freedom), and the mean is within 5 standard errors of 0.
    expect(j.errorSd / j.sigma).toBeGreaterThan(0.5);
    expect(j.errorSd / j.sigma).toBeLessThan(1.6);
    expect(Math.abs(j.meanError)).toBeLessThan(5 * j.meanSe);
    // The human-readable form of the same verdict, as an auditor reads it.
    const printed = await runCli(AUDIT, args);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/attacker's error SD +\d+\.\d Wh vs declared σ \d+\.\d Wh/);
  }, 400_000);
});
