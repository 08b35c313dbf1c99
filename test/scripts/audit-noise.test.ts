/**
 * `scripts/audit noise` run as an auditor runs it: on a real reference-MDMS database holding a trap neighbourhood's
 * releases, with the known meters' and the household's readings as CSV slices of the real data. The gateway's
 * noise PASSES (exit 0) with every figure printed; exact sums, and noise of the declared variance but two-valued or
 * cancelling in adjacent pairs, FAIL (exit 1); missing arguments are usage errors.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NoiseAudit } from '../../scripts/lib/audit/noise-command.ts';
import { MdmsStore, openMdmsDb } from '../../scripts/lib/mdms/store.ts';
import { readFixture, writeSlice } from '../../scripts/lib/reference-sums.ts';
import { IntegerSampler } from '../../gateway/encrypt/discrete-gaussian.ts';
import { DEFAULT_PLAN, trapReleases, type TrapOptions } from '../helpers/noisy-releases.ts';
import { runCli } from '../helpers/run-cli.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

const AUDIT = path.resolve(import.meta.dirname, '../../scripts/audit');
const VICTIM = '10017482';
const KNOWN = ['10017490', '10017554', '10017562', '10017936'];
const FROM = Date.parse('2012-10-09T00:00:00Z');
const TO = Date.parse('2012-10-11T00:00:00Z');

/** A supplier database with two days of the trap's releases, and the auditor's CSVs. */
function supplier(o: TrapOptions = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'audit-noise-'));
  const fixture = readFixture();
  const known = path.join(dir, 'known.csv');
  const truth = path.join(dir, 'truth.csv');
  writeSlice(fixture, KNOWN, FROM, TO, known);
  const rows = writeSlice(fixture, [VICTIM], FROM, TO, truth);
  const db = path.join(dir, 'mdms.sqlite');
  const mdms = openMdmsDb(db);
  const releases = trapReleases([...rows, ...readFixture(known)], VICTIM, KNOWN, o);
  const batch = { batchId: 'b1', gateway: 'gw-test', seq: 1, bodyDigest: 'd', receivedAt: 0 };
  new MdmsStore(mdms).saveBatch(batch, releases, [], []);
  mdms.close();
  const args = ['noise', '--mdms-db', db, '--neighbourhood', 'trap', '--known', known, '--truth', truth];
  return { args, releases: releases.length };
}

describe('scripts/audit noise', () => {
  it("PASSES the gateway's noise, printing every figure", async () => {
    const s = supplier();
    expect(s.releases).toBe(96);
    const run = await runCli(AUDIT, s.args);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('noise audit of neighbourhood trap: released sum minus 4 known meter(s)');
    expect(run.stdout).toContain("releases in the supplier's data  96\n");
    expect(run.stdout).toContain('intervals compared               96\n');
    expect(run.stdout).toMatch(/exact hits +[0-2] \(by chance: 0\.05 expected/);
    expect(run.stdout).toMatch(/attacker's error SD +\d+\.\d Wh vs declared σ 704\.7 Wh/);
    expect(run.stdout).toMatch(/95 % interval coverage +\d+\.\d %/);
    expect(run.stdout).toMatch(/shape vs discrete Gaussian +binned χ² \d+\.\d on \d+ df/);
    expect(run.stdout).toMatch(/lag-1 correlation +-?\d\.\d\d/);
    expect(run.stdout).toContain('sums of adjacent pairs           48 pairs');
    expect(run.stdout).toContain('daily sums                       2 day(s)');
    expect(run.stdout).toContain(
      "not examined                     no other neighbourhood in the supplier's data; a household released " +
        "under another id is out of this audit's view",
    );
    expect(run.stdout.trim().endsWith('verdict: PASS')).toBe(true);

    const json = await runCli(AUDIT, [...s.args, '--json', '--epsilon-per-day', '100', '--clip-wh', '1000']);
    expect(json.code, json.stderr).toBe(0);
    const audit = JSON.parse(json.stdout) as NoiseAudit;
    expect(audit).toMatchObject({ verdict: 'PASS', releases: 96, failures: [], skipped: {} });
    expect(audit.judgement.n).toBe(96);
  }, 60_000);

  it('FAILS exact sums (zero noise), and a gateway publishing a smaller ε than it uses', async () => {
    const s = supplier({ noise: () => 0n });
    const run = await runCli(AUDIT, s.args);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('exact hits                       96');
    expect(run.stdout.trim().endsWith('verdict: FAIL')).toBe(true);
    expect(run.stderr).toMatch(/^error \[PRIVACY_FLOOR\]: FAIL: 96 exact estimate\(s\)/);

    const promised = await runCli(AUDIT, [...supplier().args, '--epsilon-per-day', '10']);
    expect(promised.code).toBe(1);
    expect(promised.stdout).toContain('FAIL: ε per day 100 stated, 10 published');
  }, 60_000);

  it("FAILS the reviewer's noise of the declared variance: two points ±σ, and antithetic pairs", async () => {
    const sigma = Math.round(Math.sqrt(Number(DEFAULT_PLAN.sigma2.num) / Number(DEFAULT_PLAN.sigma2.den)));
    const twoPoint = await runCli(
      AUDIT,
      supplier({ noise: (i) => BigInt(((i * 7) % 3 === 0 ? -1 : 1) * sigma) }).args,
    );
    expect(twoPoint.code).toBe(1);
    expect(twoPoint.stdout).toMatch(/exact hits +0 /);
    expect(twoPoint.stdout).toMatch(/FAIL: the error -?\d+ Wh occurs \d+ times/);
    expect(twoPoint.stdout.trim().endsWith('verdict: FAIL')).toBe(true);

    const sampler = new IntegerSampler(seededRandom('antithetic'));
    let last = 0n;
    const anti = (i: number) =>
      (last = i % 2 ? -last : sampler.truncatedGaussian(DEFAULT_PLAN.sigma2, DEFAULT_PLAN.bound));
    const antithetic = await runCli(AUDIT, supplier({ noise: anti }).args);
    expect(antithetic.code).toBe(1);
    expect(antithetic.stdout).toContain('FAIL: sums of adjacent intervals are more exact');
    expect(antithetic.stderr).toMatch(/^error \[PRIVACY_FLOOR\]: FAIL: sums of adjacent intervals/);
  }, 60_000);

  it('is INCONCLUSIVE on another neighbourhood, and a usage error without its inputs', async () => {
    const s = supplier();
    const none = await runCli(
      AUDIT,
      s.args.map((a) => (a === 'trap' ? 'north' : a)),
    );
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('not examined                     trap (96)');
    expect(none.stderr).toContain('INCONCLUSIVE: 0 interval(s) compared, at least 30 needed');
    const usage = await runCli(AUDIT, ['noise', '--mdms-db', 'x.sqlite']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: scripts/audit noise');
    const help = await runCli(AUDIT, ['noise', '--help']);
    expect(help.stdout).toContain('FAIL if P[χ²_n ≤ Σ e_i²/σ_i²] < α');
    expect(help.stdout).toContain('PASS is necessary, not sufficient');
  }, 60_000);
});
