/**
 * The padding attack of `scripts/audit noise` on the supplier's rows: the attacker's error is exactly the noise
 * the release carries (readings clipped as it states), releases with other members or missing readings are
 * skipped, and what a release declares is checked: noise at all, σ² enough for its own ε, δ, clip and releases
 * per day, one release per interval, nothing weaker than the published settings.
 */
import { describe, expect, it } from 'vitest';
import { noisePlan } from '../../../../gateway/aggregate/noise-plan.ts';
import { playPadding } from '../../../../scripts/lib/audit/noise-padding.ts';
import { readFixture, type Row } from '../../../../scripts/lib/reference-sums.ts';
import { trapReleases } from '../../../helpers/noisy-releases.ts';

const VICTIM = '10017482';
const KNOWN = ['10017490', '10017554', '10017562', '10017936'];
const fixture = readFixture();
const known = fixture.filter((r) => KNOWN.includes(r.household));
const truth = fixture.filter((r) => r.household === VICTIM);

describe('the padding attack', () => {
  it("leaves the attacker exactly the release's noise", () => {
    const rows = trapReleases(fixture, VICTIM, KNOWN, { noise: (i) => BigInt(i * 7 - 100) });
    const r = playPadding(rows, known, truth);
    expect(rows.length).toBeGreaterThan(150);
    expect(r.samples.map((s) => s.error)).toEqual(rows.map((_, i) => i * 7 - 100));
    expect(r.failures).toEqual([]);
    expect(r.declarations).toEqual([
      'discrete-gaussian σ = 704.7 Wh, clip 1000 Wh, ε 100/day, δ 0.000001/day, 48 releases/day (ε spent 100.000)',
    ]);
  });

  it('clips every reading as the release states', () => {
    const end = Date.parse('2012-10-09T00:30:00Z');
    const row = (household: string, wh: number): Row => ({ household, end, wh, kwhText: String(wh / 1000) });
    const readings = [row('v', 1500), row('k1', 2500), row('k2', 10)];
    const [release] = trapReleases(readings, 'v', ['k1', 'k2'], { noise: () => 0n });
    expect(release!.total_wh).toBe(1000 + 1000 + 10);
    expect(playPadding([release!], readings.slice(1), readings.slice(0, 1)).samples[0]!.error).toBe(0);
  });

  it('skips releases with other members, or without every reading', () => {
    const rows = trapReleases(fixture, VICTIM, KNOWN).slice(0, 4);
    rows[0]!.meters = 6;
    const r = playPadding(
      rows,
      known.filter((k) => k.end !== Date.parse(rows[1]!.interval_end)),
      truth,
    );
    expect(r.samples).toHaveLength(2);
    expect([...r.skipped]).toEqual([
      ['other members than the known meters and the household', 1],
      ['a known meter or the household has no reading for the interval', 1],
    ]);
  });

  it('fails a release without noise, an interval released twice, and a declaration that does not add up', () => {
    const rows = trapReleases(fixture, VICTIM, KNOWN).slice(0, 3);
    const exact = { ...rows[1]!, noise: null, bound95_wh: null };
    const twice = { ...rows[2]!, record_id: 'again', total_wh: rows[2]!.total_wh + 3 };
    expect(playPadding([rows[0]!, exact, rows[2]!, twice], known, truth).failures).toEqual([
      `the release of ${rows[1]!.interval_start} declares no noise: it is an exact sum`,
      `interval ${rows[2]!.interval_start} released twice: its noise can be averaged away`,
    ]);

    const small = noisePlan({ epsilonPerDay: 400, deltaPerDay: 1e-6, clipWh: 1000, intervalMinutes: 30 });
    const understated = trapReleases(fixture, VICTIM, KNOWN, {
      plan: small,
      declare: { epsilonPerDay: 100 },
    });
    expect(playPadding(understated, known, truth).failures).toEqual([
      expect.stringMatching(/^σ² too small for the stated budget: ε spent 40\d\.\d+ > 100$/),
    ]);
    const fewer = trapReleases(fixture, VICTIM, KNOWN, { declare: { releasesPerDay: 24 } });
    expect(playPadding(fewer, known, truth).failures).toEqual([
      '24 releases/day stated, but 30-minute intervals make 48',
    ]);
    const published = { epsilonPerDay: 50, deltaPerDay: 1e-6, clipWh: 500 };
    expect(playPadding(rows, known, truth, published).failures).toEqual([
      'ε per day 100 stated, 50 published',
      'clipWh 1000 stated, 500 published',
    ]);
  });
});
