/**
 * The soak's independent answer: each neighbourhood's energy in each interval between two published boundaries,
 * from what the emulated meters published (not from anything the gateway says), compared with what the MDMS
 * decrypted. A release is Σ min(wh, clipWh) plus noise truncated to [−B, B] (docs/privacy.md §Noise): it matches
 * when it is within B of the clipped sum, with the clip and B the record itself states.
 */
import Database from 'better-sqlite3';
import { publishedWh, type FleetMeter } from './meter-fleet.ts';

export interface SumsComparison {
  /** Neighbourhood intervals expected. */
  expected: number;
  matched: number;
  missing: number;
  wrong: number;
  /** Neighbourhood intervals the MDMS holds more than once. */
  duplicated: number;
  /** The last interval end the MDMS holds (epoch ms; 0 when none). */
  lastEnd: number;
}

export function expectedSums(
  fleet: readonly FleetMeter[],
  boundaries: readonly number[],
): Map<string, number[]> {
  const readings = new Map<string, number[]>();
  for (let i = 1; i < boundaries.length; i++) {
    const [from, to] = [boundaries[i - 1]!, boundaries[i]!];
    for (const m of fleet) {
      const key = `${m.neighbourhood}@${to}`;
      const wh = publishedWh(m.register, to) - publishedWh(m.register, from);
      readings.set(key, [...(readings.get(key) ?? []), wh]);
    }
  }
  return readings;
}

export function compareWithMdms(
  file: string,
  fleet: readonly FleetMeter[],
  boundaries: readonly number[],
): SumsComparison {
  const expected = expectedSums(fleet, boundaries);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT neighbourhood, interval_end AS end, total_wh AS wh, noise FROM aggregates')
      .all() as { neighbourhood: string; end: string; wh: number; noise: string | null }[];
    const seen = new Map<string, number>();
    let lastEnd = 0;
    for (const r of rows) {
      const end = Date.parse(r.end);
      lastEnd = Math.max(lastEnd, end);
      const key = `${r.neighbourhood}@${end}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    let matched = 0;
    let wrong = 0;
    for (const r of rows) {
      const want = expected.get(`${r.neighbourhood}@${Date.parse(r.end)}`);
      if (want === undefined) continue; // an interval outside the published boundaries
      const noise = r.noise ? (JSON.parse(r.noise) as { clipWh: number; offset: string }) : undefined;
      const clip = noise?.clipWh ?? Number.POSITIVE_INFINITY;
      const exact = want.reduce((sum, wh) => sum + Math.min(wh, clip), 0);
      if (Math.abs(r.wh - exact) <= Number(noise?.offset ?? 0)) matched++;
      else wrong++;
    }
    const missing = [...expected.keys()].filter((k) => !seen.has(k)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    return { expected: expected.size, matched, missing, wrong, duplicated, lastEnd };
  } finally {
    db.close();
  }
}
