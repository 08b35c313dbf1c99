/**
 * billing.reveal: cost-only end to end: two days of real household data replayed through the gateway process into
 * a real Mosquitto broker and the reference MDMS. Each bill must carry only the amount due, equal for every
 * account and day to the CSV's per-band sums priced in plain integers; aggregates are unchanged. A curious
 * supplier decrypting a bill finds the cost and, above it, nothing but the mask.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { fromHex } from '../../gateway/encrypt/bigint.ts';
import { COST_GUARD_BITS, decodeCost } from '../../gateway/encrypt/packing.ts';
import { billCostPlan, packingLayout } from '../../gateway/gateway.ts';
import type { CostBillRecordMsg } from '../../gateway/protocol/messages.ts';
import { CrtDecryptor } from '../../scripts/lib/mdms/decrypt.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { publishedRecords, runPipeline, type PipelineRun } from '../helpers/pipeline-run.ts';
import { TEST_METERS } from '../helpers/scenario.ts';

/** Prices per kWh in the config, and the same in 10⁻⁶ currency units, written out independently. */
const PRICES = { peak: 0.2875, offpeak: 0.123456 };
const MICRO = { peak: 287_500n, offpeak: 123_456n };

describe('gateway → Mosquitto → reference MDMS with cost-only bills', () => {
  let run: PipelineRun;

  beforeAll(async () => {
    run = await runPipeline({
      from: '2012-10-10T00:00:00Z',
      to: '2012-10-12T00:00:00Z',
      speed: 2400,
      billing: { reveal: 'cost-only', prices: PRICES },
    });
  }, 200_000);

  afterAll(() => run?.stop());

  /** Every bill record the gateway published. */
  const billRecords = () => publishedRecords(run.upstream).filter((r) => r.kind === 'bill');

  it('bills only the amount: Σ price × band Wh of the CSV, exactly, for every account and day', () => {
    expect(run.scenario.expected.bills.size).toBe(TEST_METERS.length * 2);
    // Aggregates and suppressions as in bands mode; bills as exact amounts with no Wh.
    expectExactlyExpected(run.store, run.scenario.expected, MICRO);
  });

  it('sends no layout or band slots with a bill, only the prices applied and the cost width', () => {
    const bills = billRecords();
    expect(new Set(bills.map((b) => b.id)).size).toBe(run.scenario.expected.bills.size);
    for (const bill of bills) {
      expect(Object.keys(bill).sort(), bill.id).toEqual(
        [
          'kind',
          'id',
          'account',
          'periodStart',
          'periodEnd',
          'intervals',
          'reveal',
          'prices',
          'costBits',
          'ciphertext',
        ].sort(),
      );
      expect(bill).toMatchObject({ reveal: 'cost-only', prices: { peak: '0.2875', offpeak: '0.123456' } });
    }
  });

  it('hides the band totals above the cost: what lies there is U + R with a fresh R < 2^maskBits', () => {
    const config = loadConfigFile(run.scenario.configFile);
    const { bits } = run.keys.supplier.publicKey;
    const layout = packingLayout(config, bits);
    const plan = billCostPlan(config, layout, bits)!;
    const decryptor = new CrtDecryptor(run.keys.supplier);
    const shift = BigInt(plan.costBits + COST_GUARD_BITS);
    const masks = new Set<bigint>();
    for (const bill of billRecords() as CostBillRecordMsg[]) {
      const want = run.scenario.expected.bills.get(`${bill.account} ${bill.periodStart}`)!;
      const p = decryptor.decrypt(fromHex(bill.ciphertext)!);
      expect(decodeCost(p, plan.costBits)).toBe(
        MICRO.peak * BigInt(want.peakWh) + MICRO.offpeak * BigInt(want.offpeakWh),
      );
      // U = Σ_b k_b·x_b, from the public plan and the CSV's band sums: unmasked, it would give them away.
      const x = [BigInt(want.peakWh), BigInt(want.offpeakWh)];
      const u = plan.exponents.reduce((sum, e, band) => {
        const spread = 1n + (1n << BigInt(layout.slotBits * (1 + band)));
        return sum + ((e * spread - plan.prices[band]!) >> shift) * x[band]!;
      }, 0n);
      const r = (p >> shift) - u;
      expect(r >= 0n && r < 1n << BigInt(plan.maskBits), bill.id).toBe(true);
      masks.add(r);
    }
    // A fresh mask per bill: a repeat, or one 64 bits short of its length, has odds of 2^−64 or less.
    expect(masks.size).toBe(run.scenario.expected.bills.size);
    expect([...masks].every((r) => r > 1n << BigInt(plan.maskBits - 64))).toBe(true);
  });
});
