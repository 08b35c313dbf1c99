/**
 * Read planning: the built-in maps' plans by hand, the limits (max words, max gap), and on random maps that every
 * plan is valid and has the fewest reads (checked against an independent dynamic programme).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planReads, type ReadPlan } from '../../../drivers/modbus/read-plan.ts';
import { loadRegisterMap, type RegisterMap } from '../../../drivers/modbus/register-map.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { inlineMap } from './helpers.ts';

const spans = (plan: ReadPlan) => plan.blocks.map((b) => [b.address, b.length]);

/** Checks a plan against its map: every register in exactly one read, reads within the limits. */
function checkPlan(map: RegisterMap, plan: ReadPlan, maxWords: number, maxGap: number): void {
  const seen = new Set<string>();
  for (const b of plan.blocks) {
    expect(b.length).toBeLessThanOrEqual(maxWords);
    let end = b.address;
    for (const r of b.registers) {
      expect(r.address).toBeGreaterThanOrEqual(b.address);
      expect(r.address + r.words).toBeLessThanOrEqual(b.address + b.length);
      expect(r.address - end).toBeLessThanOrEqual(maxGap);
      end = r.address + r.words;
      seen.add(r.obis);
    }
    expect(end).toBe(b.address + b.length);
  }
  expect(seen.size).toBe(map.registers.length);
}

/** The fewest reads, by dynamic programming over the sorted registers (independent of the greedy planner). */
function fewestReads(map: RegisterMap, maxWords: number, maxGap: number): number {
  const regs = [...map.registers].sort((a, b) => a.address - b.address);
  const best = new Array<number>(regs.length + 1).fill(Infinity);
  best[0] = 0;
  for (let j = 1; j <= regs.length; j++) {
    // Registers i..j-1 in one read.
    for (let i = j - 1; i >= 0; i--) {
      const ok =
        regs[j - 1]!.address + regs[j - 1]!.words - regs[i]!.address <= maxWords &&
        regs
          .slice(i + 1, j)
          .every((r, k) => r.address - (regs[i + k]!.address + regs[i + k]!.words) <= maxGap);
      if (!ok) break;
      best[j] = Math.min(best[j]!, best[i]! + 1);
    }
  }
  return best[regs.length]!;
}

describe('planReads', () => {
  it('SDM630 without gaps: one read per contiguous run, none over the 80 registers the meter allows', () => {
    const map = loadRegisterMap('eastron-sdm630');
    const plan = planReads(map);
    expect(plan.functionCode).toBe(4);
    expect(spans(plan)).toEqual([
      [0, 36],
      [52, 2],
      [56, 2],
      [60, 4],
      [70, 10],
      [234, 6],
      [248, 2],
      [342, 2],
      [346, 30],
    ]);
    checkPlan(map, plan, 80, 0);
  });

  it('a gap of up to maxGap unmapped registers joins two runs', () => {
    const map = loadRegisterMap('eastron-sdm630');
    expect(spans(planReads(map, { maxGap: 4 }))).toEqual([
      [0, 36],
      [52, 12], // 0x0042 (PhaseAngle, unmapped) leaves a gap of 6 before 70
      [70, 10],
      [234, 6],
      [248, 2],
      [342, 34],
    ]);
    // With a wide gap the 80-register limit splits the reads.
    const wide = planReads(map, { maxGap: 200 });
    expect(spans(wide)).toEqual([
      [0, 80],
      [234, 16],
      [342, 34],
    ]);
    checkPlan(map, wide, 80, 200);
  });

  it('maxWords splits a long contiguous run', () => {
    const map = loadRegisterMap('carlo-gavazzi-em24');
    expect(spans(planReads(map, { maxWords: 6 }))).toEqual([
      [0, 6],
      [12, 6],
      [18, 6],
      [40, 2],
      [50, 4],
      [55, 1],
      [66, 2],
      [70, 6],
      [92, 2],
    ]);
    expect(spans(planReads(map, { maxGap: 125 }))).toEqual([[0, 94]]);
  });

  it('refuses limits that no read can meet', () => {
    const map = loadRegisterMap('eastron-sdm630');
    expectCode('CONFIG_INVALID', () => planReads(map, { maxWords: 126 }));
    expectCode('CONFIG_INVALID', () => planReads(map, { maxWords: 1 })); // a float32 is 2 registers
    expectCode('CONFIG_INVALID', () => planReads(map, { maxGap: -1 }));
  });

  it('on random maps: every plan is valid and has the fewest reads', () => {
    const sizes = { int16: 1, int32: 2, float64: 4 } as const;
    const arbMap = fc
      .uniqueArray(
        fc.record({
          address: fc.integer({ min: 0, max: 400 }),
          type: fc.constantFrom('int16', 'int32', 'float64'),
        }),
        { minLength: 1, maxLength: 40, selector: (r) => r.address },
      )
      .map((regs) => {
        // Drop overlaps: keep a register only if it starts after the previous one ends.
        const sorted = [...regs].sort((a, b) => a.address - b.address);
        let end = 0;
        return sorted.filter((r) => {
          if (r.address < end) return false;
          end = r.address + sizes[r.type];
          return true;
        });
      });
    fc.assert(
      fc.property(
        arbMap,
        fc.integer({ min: 4, max: 125 }),
        fc.integer({ min: 0, max: 20 }),
        (regs, maxWords, gap) => {
          const map = inlineMap({
            registers: regs.map((r, i) => ({ obis: `1-0:${i}.7.0`, address: r.address, type: r.type })),
          });
          const plan = planReads(map, { maxWords, maxGap: gap });
          checkPlan(map, plan, maxWords, gap);
          expect(plan.blocks.length).toBe(fewestReads(map, maxWords, gap));
        },
      ),
      { numRuns: 300 },
    );
  });
});
