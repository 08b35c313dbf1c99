/**
 * Cumulative register → interval energies: boundary values interpolated and rounded, consecutive intervals
 * telescoping to the register's own difference, gaps leaving intervals missing (never zero), resets and
 * out-of-order samples handled. The fast-check property is the billing invariant: whatever the sampling, the
 * readings of a gap-free run add up to the register difference between the first and last valued boundaries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegisterIntervals } from '../../../drivers/common/register-intervals.ts';

const I = 15 * 60_000;
const T0 = Date.UTC(2024, 0, 1);

describe('RegisterIntervals', () => {
  it('emits one reading per interval between valued boundaries', () => {
    const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: I });
    expect(r.push(T0, 1000).readings).toEqual([]);
    // Sample 30 s before and after the next boundary: the boundary value is their midpoint.
    expect(r.push(T0 + I - 30_000, 1100).readings).toEqual([]);
    expect(r.push(T0 + I + 30_000, 1120).readings).toEqual([{ start: T0, end: T0 + I, wh: 110 }]);
    expect(r.push(T0 + 2 * I, 1300).readings).toEqual([{ start: T0 + I, end: T0 + 2 * I, wh: 190 }]);
  });

  it('needs a valued start boundary: the first partial interval has no reading', () => {
    const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: I });
    expect(r.push(T0 + 1000, 5).readings).toEqual([]);
    expect(r.push(T0 + I + 1000, 15).readings).toEqual([]);
    expect(r.push(T0 + 2 * I + 1000, 25).readings).toEqual([{ start: T0 + I, end: T0 + 2 * I, wh: 10 }]);
  });

  it('leaves the intervals across a long silence without readings, and resumes after it', () => {
    const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: 5 * 60_000 });
    r.push(T0, 0);
    expect(r.push(T0 + I, 100).readings).toHaveLength(0); // 15 min apart > 5 min: not interpolated
    const silent = r.push(T0 + 5 * I, 900);
    expect(silent).toEqual({ readings: [], issue: 'gap' });
    expect(r.push(T0 + 6 * I, 1000).readings).toEqual([]);
    // Whole-boundary samples 5 min apart are valued again.
    r.push(T0 + 6 * I + 4 * 60_000, 1010);
    r.push(T0 + 7 * I - 60_000, 1050);
    expect(r.push(T0 + 7 * I + 60_000, 1060).readings).toEqual([
      { start: T0 + 6 * I, end: T0 + 7 * I, wh: 55 },
    ]);
  });

  it('ignores stale samples and restarts after a register that went down', () => {
    const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: I });
    r.push(T0, 100);
    expect(r.push(T0, 100).issue).toBe('stale');
    expect(r.push(T0 - 1, 99).issue).toBe('stale');
    expect(r.push(T0 + I, 50)).toEqual({ readings: [], issue: 'regressed' });
    expect(r.push(T0 + 2 * I, 80).readings).toEqual([{ start: T0 + I, end: T0 + 2 * I, wh: 30 }]);
  });

  it('values several boundaries crossed by one pair of samples', () => {
    const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: 4 * I });
    r.push(T0, 0);
    expect(r.push(T0 + 3 * I, 300).readings).toEqual([
      { start: T0, end: T0 + I, wh: 100 },
      { start: T0 + I, end: T0 + 2 * I, wh: 100 },
      { start: T0 + 2 * I, end: T0 + 3 * I, wh: 100 },
    ]);
  });

  it('property: readings are whole, non-negative and add up to the register difference', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 120_000 }), fc.double({ min: 0, max: 50, noNaN: true })),
          {
            minLength: 2,
            maxLength: 400,
          },
        ),
        (steps) => {
          const r = new RegisterIntervals({ intervalMs: I, maxSampleGapMs: 120_000 });
          let at = T0 - 60_000;
          let wh = 12_345.5;
          const samples = [{ at, wh }];
          const readings = [...r.push(at, wh).readings];
          for (const [dt, dwh] of steps) {
            at += dt;
            wh += dwh;
            samples.push({ at, wh });
            readings.push(...r.push(at, wh).readings);
          }
          // The register at a boundary, from the samples around it (as a meter reader would by hand).
          const valueAt = (b: number): number => {
            const i = samples.findIndex((s) => s.at >= b);
            const [a, c] = [samples[i - 1]!, samples[i]!];
            return c.at === b ? c.wh : a.wh + ((c.wh - a.wh) * (b - a.at)) / (c.at - a.at);
          };
          for (const x of readings) {
            expect(Number.isInteger(x.wh)).toBe(true);
            expect(x.wh).toBeGreaterThanOrEqual(0);
            expect(x.end - x.start).toBe(I);
          }
          // Consecutive readings (no gap can occur: steps ≤ maxSampleGapMs) are contiguous and telescope.
          for (let i = 1; i < readings.length; i++) expect(readings[i]!.start).toBe(readings[i - 1]!.end);
          if (readings.length > 0) {
            const total = readings.reduce((s, x) => s + x.wh, 0);
            const first = readings[0]!.start;
            const last = readings.at(-1)!.end;
            expect(total).toBe(Math.round(valueAt(last)) - Math.round(valueAt(first)));
          }
        },
      ),
    );
  });
});
