/**
 * The error table of docs/privacy.md (`npm run dp-table`): household-days are read from the SGSC format, sums are
 * exact, the noise is the gateway's plan, and the error is measured against the unclipped sum.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { noisePlan, sigmaOf } from '../../gateway/aggregate/noise-plan.ts';
import { IntegerSampler } from '../../gateway/encrypt/discrete-gaussian.ts';
import { errorTable, householdDays, markdown } from '../../scripts/lib/dp/error-table.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

/** Two households, two whole days at 100 and 300 Wh a half-hour, and one incomplete day that must be skipped. */
function dataFile(): string {
  const lines = ['customer_id,reading_datetime,general_supply_kwh'];
  const day = (household: string, date: string, kwh: string, slots = 48) => {
    const start = Date.parse(`${date}T00:00:00Z`);
    for (let i = 1; i <= slots; i++) {
      const end = new Date(start + i * 1_800_000).toISOString().slice(0, 19).replace('T', ' ');
      lines.push(`${household},${end},${kwh}`);
    }
  };
  day('a', '2012-10-10', '0.100');
  day('b', '2012-10-10', '0.300');
  day('a', '2012-10-11', '0.100', 20);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'dp-table-')), 'data.csv.gz');
  writeFileSync(file, gzipSync(`${lines.join('\n')}\n`));
  return file;
}

describe('dp error table', () => {
  it('reads whole household-days only, each half-hour in its slot (the CSV names interval ends)', () => {
    const days = householdDays(dataFile());
    expect(days).toHaveLength(2);
    expect(days.map((d) => new Set(d).size)).toEqual([1, 1]);
    expect(days.map((d) => d[0]).sort()).toEqual([100, 300]);
  });

  it('measures the relative error of clipped sums plus the planned noise against the exact sums', () => {
    const pickSeq = [0, 0.9]; // household a, then b: every neighbourhood sums 400 Wh a half-hour
    let i = 0;
    const cells = errorTable({
      file: dataFile(),
      sizes: [2],
      epsilons: [1000],
      clipWh: 200,
      deltaPerDay: 1e-6,
      days: 4,
      sampler: new IntegerSampler(seededRandom('table')),
      pick: () => pickSeq[i++ % 2]!,
    });
    const sigma = sigmaOf(
      noisePlan({ epsilonPerDay: 1000, deltaPerDay: 1e-6, clipWh: 200, intervalMinutes: 30 }),
    );
    expect(cells).toHaveLength(1);
    expect(cells[0]).toMatchObject({ size: 2, epsilon: 1000, meanSumWh: 400 });
    expect(cells[0]!.sigma).toBeCloseTo(sigma, 6);
    // The clip moves every sum from 400 to 300 Wh, so the error is |η − 100| / 400: never below 0, and its
    // median near 100/400 for a σ (≈ 35 Wh) smaller than the bias.
    expect(cells[0]!.p50).toBeGreaterThan(0.1);
    expect(cells[0]!.p50).toBeLessThan(0.4);
    expect(cells[0]!.p95).toBeGreaterThanOrEqual(cells[0]!.p50);
    expect(markdown(cells, [1000])).toContain('| 2 | 0.4 kWh |');
  });
});
