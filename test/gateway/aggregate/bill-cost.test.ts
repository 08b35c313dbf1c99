/**
 * The homomorphic cost of a cost-only bill on a real 2048-bit Paillier key: accumulators made of genuinely
 * encrypted packed readings, decrypted as the MDMS decrypts them. The expected cost is Σ price × Wh in plain
 * integers; the part above the cost must differ from close to close (masked), the cost itself must not.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BillCost,
  costPlan,
  type BandAccumulator,
  type CostPlan,
} from '../../../gateway/aggregate/bill-cost.ts';
import { createEngine, type EncryptionEngine } from '../../../gateway/encrypt/engine.ts';
import {
  COST_GUARD_BITS,
  MASK_MARGIN_BITS,
  decodeCost,
  layoutFor,
  packReading,
  type PackingLayout,
} from '../../../gateway/encrypt/packing.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { CrtDecryptor } from '../../../scripts/lib/mdms/decrypt.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { RELEASE_BOUNDS } from '../../helpers/packing.ts';

const BANDS = ['peak', 'shoulder', 'offpeak'];
const MAX_WH = 20_000;
const BILL_READINGS = 3_216;
const MAX_BILL_WH = BigInt(MAX_WH * BILL_READINGS);

describe('homomorphic cost of a cost-only bill', () => {
  let key: PaillierPrivateKey;
  let engine: EncryptionEngine;
  let layout: PackingLayout;
  let decryptor: CrtDecryptor;

  beforeAll(async () => {
    key = await generatePaillier(2048);
    engine = createEngine('native', key.publicKey);
    decryptor = new CrtDecryptor(key);
    layout = layoutFor({
      maxWhPerReading: MAX_WH,
      maxAddends: 10_000,
      bands: BANDS,
      modulusBits: key.publicKey.bits,
      ...RELEASE_BOUNDS,
    });
  });

  const planFor = (prices: bigint[]) =>
    costPlan({
      slotBits: layout.slotBits,
      prices,
      maxBillWh: MAX_BILL_WH,
      modulusBits: key.publicKey.bits,
      releaseShift: layout.releaseShift,
      maxBillClippedWh: BigInt(RELEASE_BOUNDS.clipWh * BILL_READINGS),
    });

  /** The period's band accumulators: the product of each band's readings, packed and encrypted as at intake. */
  function accumulate(readings: [number, number][]): BandAccumulator[] {
    const byBand = new Map<number, bigint>();
    for (const [band, wh] of readings) {
      // With the release field (min(wh, clipWh) at bit s), as at intake: it must land above the cost.
      const c = engine.encrypt(packReading(layout, BigInt(wh), band));
      const acc = byBand.get(band);
      byBand.set(band, acc === undefined ? c : (acc * c) % key.publicKey.n2);
    }
    return [...byBand].map(([band, ciphertext]) => ({ band, ciphertext }));
  }

  const expectedCost = (readings: [number, number][], prices: bigint[]) =>
    readings.reduce((sum, [band, wh]) => sum + prices[band]! * BigInt(wh), 0n);

  const billCost = (plan: CostPlan, random?: (size: number) => Buffer) =>
    new BillCost(plan, key.publicKey, (m) => engine.encrypt(m), random);

  it('decrypts to Σ price_b × Wh_b in its low costBits bits, for random readings and prices', () => {
    const reading = fc.tuple(
      fc.integer({ min: 0, max: BANDS.length - 1 }),
      fc.oneof(fc.constant(MAX_WH), fc.integer({ min: 0, max: MAX_WH })),
    );
    // Prices up to 1000 currency units per kWh, i.e. 10⁹ micro-units.
    const price = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1_000_000_000n }));
    fc.assert(
      fc.property(
        fc.array(reading, { minLength: 1, maxLength: 8 }),
        fc.tuple(price, price, price),
        (readings, prices) => {
          const plan = planFor(prices);
          const c = billCost(plan).encryptedCost(accumulate(readings));
          expect(decodeCost(decryptor.decrypt(c), plan.costBits)).toBe(expectedCost(readings, prices));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('holds the largest bill exactly: every reading at maxWhPerReading in the dearest band', () => {
    const prices = [1_000_000_000n, 3n, 0n];
    const plan = planFor(prices);
    // The largest possible bill is MAX_BILL_WH in band 0; its accumulator is built from one packed total.
    const spread = 1n + (1n << BigInt(layout.slotBits));
    const accumulator = engine.encrypt(MAX_BILL_WH * spread);
    const c = billCost(plan).encryptedCost([{ band: 0, ciphertext: accumulator }]);
    expect(decodeCost(decryptor.decrypt(c), plan.costBits)).toBe(MAX_BILL_WH * prices[0]!);
    expect(MAX_BILL_WH * prices[0]!).toBeLessThan(1n << BigInt(plan.costBits));
  });

  it('masks what lies above the cost: two closes differ there, never in the cost or the guard bits', () => {
    const prices = [290_000n, 215_500n, 123_456n];
    const plan = planFor(prices);
    const readings: [number, number][] = [
      [0, 1_200],
      [1, 800],
      [2, 333],
      [0, 7],
    ];
    const accumulators = accumulate(readings);
    const shift = BigInt(plan.costBits + COST_GUARD_BITS);
    const [a, b] = [1, 2].map(() => decryptor.decrypt(billCost(plan).encryptedCost(accumulators)));
    expect(a! & ((1n << shift) - 1n)).toBe(b! & ((1n << shift) - 1n));
    expect(decodeCost(a!, plan.costBits)).toBe(expectedCost(readings, prices));
    expect(a! >> shift).not.toBe(b! >> shift);
    // Without the mask (R = 0) the upper part is U = Σ k_b·x_b, a public combination of the band totals that
    // would reveal them given the cost; with it, U is buried under at least 128 random bits.
    const unmasked = decryptor.decrypt(
      billCost(plan, (size) => Buffer.alloc(size)).encryptedCost(accumulators),
    );
    const u = unmasked >> shift;
    expect(u).toBeGreaterThan(0n);
    expect(u).toBeLessThan(1n << BigInt(plan.maskBits - MASK_MARGIN_BITS));
    expect(a! >> shift).not.toBe(u);
    expect(a! >> shift).toBeLessThan(1n << BigInt(plan.maskBits + 1));
  });

  it('re-randomises: the ciphertext differs even when the accumulators and the mask are the same', () => {
    const plan = planFor([1n, 2n, 3n]);
    const accumulators = accumulate([[1, 10]]);
    const zeros = (size: number) => Buffer.alloc(size);
    expect(billCost(plan, zeros).encryptedCost(accumulators)).not.toBe(
      billCost(plan, zeros).encryptedCost(accumulators),
    );
  });

  it('refuses an accumulator of a band that is no longer configured (CONFIG_INVALID)', () => {
    const plan = planFor([1n, 2n]);
    expectCode('CONFIG_INVALID', () => billCost(plan).encryptedCost(accumulate([[2, 10]])));
  });
});

describe('costPlan sizing', () => {
  const bounds = {
    slotBits: 28,
    prices: [300_000n, 120_000n],
    maxBillWh: 64_320_000n,
    releaseShift: 28 * 3 + MASK_MARGIN_BITS + 2,
    maxBillClippedWh: 5_000n * 3_216n,
  };

  it('sizes the cost for the largest bill at the highest price', () => {
    const plan = costPlan({ ...bounds, modulusBits: 2048 });
    // 64 320 000 Wh × 300 000 ≈ 1.9·10¹³ < 2^45.
    expect(plan.costBits).toBe(45);
    expect(plan.exponents).toHaveLength(2);
    expect(plan.exponents.every((e) => e < 1n << BigInt(45 + COST_GUARD_BITS))).toBe(true);
    // Free electricity still has a 1-bit cost.
    expect(costPlan({ ...bounds, prices: [0n, 0n], modulusBits: 2048 }).costBits).toBe(1);
  });

  it('refuses (PACKING_OVERFLOW) a cost, guard and mask that do not fit below n / 2', () => {
    const { costBits, maskBits } = costPlan({ ...bounds, modulusBits: 2048 });
    const needed = costBits + COST_GUARD_BITS + maskBits + 1;
    expect(costPlan({ ...bounds, modulusBits: needed + 2 }).costBits).toBe(costBits);
    expectCode('PACKING_OVERFLOW', () => costPlan({ ...bounds, modulusBits: needed + 1 }));
    // Eight bands of wide slots push the mask (which covers the upper band slots) past a 2048-bit key.
    const prices = Array.from({ length: 8 }, () => 1_000_000_000n);
    expectCode('PACKING_OVERFLOW', () =>
      costPlan({
        ...bounds,
        slotBits: 220,
        prices,
        maxBillWh: 1n << 200n,
        releaseShift: 220 * 9 + MASK_MARGIN_BITS + 2,
        modulusBits: 2048,
      }),
    );
  });

  it('refuses (PACKING_OVERFLOW) a cost whose guard bits would reach the release field', () => {
    const { costBits } = costPlan({ ...bounds, modulusBits: 2048 });
    const fits = { ...bounds, modulusBits: 2048, releaseShift: costBits + COST_GUARD_BITS };
    expect(costPlan(fits).costBits).toBe(costBits);
    expectCode('PACKING_OVERFLOW', () => costPlan({ ...fits, releaseShift: costBits + COST_GUARD_BITS - 1 }));
  });
});
