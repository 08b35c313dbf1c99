/**
 * Neighbourhood aggregation and bill release on a real 2048-bit Paillier key and a real SQLite buffer: the k rule,
 * the grace period, exactly one decision per group and per billing period (privacy invariant 2), and released sums
 * that the MDMS decrypts: noisy releases of clipped sums (the noise drawn from a seeded source here, so that the
 * exact draw can be checked), exact bills.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BillCost, costPlan } from '../../../gateway/aggregate/bill-cost.ts';
import { BillingCloser, type BillingCloserOptions } from '../../../gateway/aggregate/billing-closer.ts';
import { NeighbourhoodAggregator } from '../../../gateway/aggregate/neighbourhood-aggregator.ts';
import { BufferStore, type Period } from '../../../gateway/buffer/buffer.ts';
import { createEngine, type EncryptionEngine } from '../../../gateway/encrypt/engine.ts';
import {
  decodeCost,
  decodeRelease,
  layoutFor,
  MASK_MARGIN_BITS,
  pack,
  packReading,
  unpack,
  type PackingLayout,
} from '../../../gateway/encrypt/packing.ts';
import { IntegerSampler } from '../../../gateway/encrypt/discrete-gaussian.ts';
import { noisePlan, type NoisePlan } from '../../../gateway/aggregate/noise-plan.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { AggregateRecord, BillRecord, SuppressedRecord } from '../../../gateway/protocol/messages.ts';
import { decrypt } from '../../../scripts/lib/mdms/decrypt.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { RELEASE_BOUNDS } from '../../helpers/packing.ts';
import { seededRandom } from '../../helpers/seeded-random.ts';

const K = 3;
const NOISE: NoisePlan = noisePlan({
  epsilonPerDay: 100,
  deltaPerDay: 1e-6,
  clipWh: RELEASE_BOUNDS.clipWh,
  intervalMinutes: 30,
});
const MINUTE = 60_000;
const INTERVAL = 30 * MINUTE;
const GRACE = 5 * MINUTE;
const BILL_GRACE = 60 * MINUTE;
const T0 = Date.parse('2024-01-10T10:00:00Z');
const DAY = 86_400_000;
const DAY0: Period = { start: Date.parse('2024-01-10T00:00:00Z'), end: Date.parse('2024-01-11T00:00:00Z') };
const DAY1: Period = { start: DAY0.end, end: DAY0.end + DAY };

/** Plaintext readings [meter, neighbourhood, interval index, Wh, band (0 peak, 1 offpeak)]. */
const READINGS: [string, string, number, number, number][] = [
  // north, interval 0: four meters (≥ k, released)
  ['m1', 'north', 0, 420, 0],
  ['m2', 'north', 0, 20_000, 1],
  ['m3', 'north', 0, 0, 0],
  ['m4', 'north', 0, 1_337, 1],
  // tiny, interval 0: two meters (< k, suppressed)
  ['t1', 'tiny', 0, 250, 0],
  ['t2', 'tiny', 0, 260, 0],
  // north, interval 1: exactly k meters
  ['m1', 'north', 1, 100, 0],
  ['m2', 'north', 1, 200, 0],
  ['m3', 'north', 1, 300, 1],
  // more of m1, for its bill
  ['m1', 'north', 2, 5_000, 1],
  ['m1', 'north', 3, 7, 0],
  // m5 arrives after north's interval 0 was decided
  ['m5', 'north', 0, 999, 1],
];

interface Encrypted {
  meter: string;
  neighbourhood: string;
  interval: number;
  wh: number;
  band: number;
  ciphertext: bigint;
}

describe('aggregation on a real key and buffer', () => {
  let key: PaillierPrivateKey;
  let layout: PackingLayout;
  let engine: EncryptionEngine;
  const encrypted = new Map<string, Encrypted>();
  const buffers: BufferStore[] = [];

  beforeAll(async () => {
    key = await generatePaillier(2048);
    layout = layoutFor({
      maxWhPerReading: 20_000,
      maxAddends: 1_000,
      bands: ['peak', 'offpeak'],
      modulusBits: key.publicKey.bits,
      ...RELEASE_BOUNDS,
    });
    engine = createEngine('native', key.publicKey);
    for (const [meter, neighbourhood, interval, wh, band] of READINGS) {
      encrypted.set(`${meter}:${interval}`, {
        meter,
        neighbourhood,
        interval,
        wh,
        band,
        ciphertext: engine.encrypt(packReading(layout, BigInt(wh), band)),
      });
    }
  });

  afterEach(() => {
    for (const b of buffers.splice(0)) b.close();
  });

  function setup(billing: Partial<BillingCloserOptions> = {}, seed = 'noise') {
    const metrics = new Metrics();
    const buffer = openTestBuffer(key.publicKey.n2, metrics);
    buffers.push(buffer);
    const aggregator = new NeighbourhoodAggregator(
      { k: K, intervalMs: INTERVAL, graceMs: GRACE, layout, noise: NOISE, maxMetersPerRelease: 1_000 },
      key.publicKey,
      (m) => engine.encrypt(m),
      buffer,
      metrics,
      silentLogger(),
      new IntegerSampler(seededRandom(seed)),
    );
    const closer = new BillingCloser(
      {
        graceMs: BILL_GRACE,
        intervalMs: INTERVAL,
        foldAt: 1000,
        encrypt: (m) => engine.encrypt(m),
        n2: key.publicKey.n2,
        ...billing,
      },
      layout,
      buffer,
      metrics,
      silentLogger(),
    );
    const store = (id: string, period: Period = DAY0, currentPeriod: Period = DAY0) => {
      const r = encrypted.get(id)!;
      return buffer.storeReading({
        meterId: r.meter,
        neighbourhood: r.neighbourhood,
        account: `ACC-${r.meter}`,
        intervalStart: T0 + r.interval * INTERVAL,
        band: r.band,
        ciphertext: r.ciphertext,
        period,
        currentPeriod,
      });
    };
    const records = () =>
      buffer.outbox
        .unbatched(1000)
        .map((r) => ({ ...r, parsed: JSON.parse(r.body) as Record<string, unknown> }));
    return { buffer, metrics, aggregator, closer, store, records };
  }

  /** Σ min(wh, clipWh) of the given readings: what a release sums before its noise. */
  function clipped(ids: string[]): bigint {
    return ids.reduce((acc, id) => acc + BigInt(Math.min(encrypted.get(id)!.wh, NOISE.clipWh)), 0n);
  }

  /** The noise the aggregator drew for its n-th release (0-based) from `seed`: the same draws, in its order. */
  function noiseOf(seed: string, n: number): bigint {
    const sampler = new IntegerSampler(seededRandom(seed));
    const below = BigInt(layout.slotBits * layout.slots.length + MASK_MARGIN_BITS);
    let eta = 0n;
    for (let i = 0; i <= n; i++) {
      sampler.uniform(1n << below);
      eta = sampler.truncatedGaussian(NOISE.sigma2, NOISE.bound);
    }
    return eta;
  }

  /** A release's noisy value, as the MDMS reads it. */
  const releasedValue = (parsed: Record<string, unknown>) => {
    const r = AggregateRecord.parse(parsed);
    return decodeRelease(decrypt(key, BigInt(`0x${r.ciphertext}`)), r.release, BigInt(r.noise.offset));
  };

  /** Plaintext sums [total, peak, offpeak] of the given readings, computed without the gateway's code. */
  function sums(ids: string[]): bigint[] {
    const s = [0n, 0n, 0n];
    for (const id of ids) {
      const { wh, band } = encrypted.get(id)!;
      s[0]! += BigInt(wh);
      s[1 + band]! += BigInt(wh);
    }
    return s;
  }

  const opened = (hex: unknown) =>
    unpack(layout, decrypt(key, BigInt(`0x${String(hex)}`)), layout.releaseShift);
  const storeFirstTwoIntervals = (store: (id: string) => unknown) => {
    for (const id of ['m1:0', 'm2:0', 'm3:0', 'm4:0', 't1:0', 't2:0', 'm1:1', 'm2:1', 'm3:1']) store(id);
  };

  describe('NeighbourhoodAggregator', () => {
    it('decides nothing before the interval has ended plus the grace period', () => {
      const { buffer, aggregator, store, records } = setup();
      storeFirstTwoIntervals(store);
      expect(aggregator.run(T0)).toBe(0);
      expect(aggregator.run(T0 + INTERVAL)).toBe(0);
      expect(aggregator.run(T0 + INTERVAL + GRACE - 1)).toBe(0);
      expect(records()).toEqual([]);
      expect(buffer.readings.isDecided({ neighbourhood: 'north', intervalStart: T0 })).toBe(false);
      // At interval end + grace exactly: interval 0 of both neighbourhoods, not interval 1.
      expect(aggregator.run(T0 + INTERVAL + GRACE)).toBe(2);
      expect(
        records()
          .map((r) => r.recordId)
          .sort(),
      ).toEqual(['agg:north:2024-01-10T10:00:00Z', 'agg:tiny:2024-01-10T10:00:00Z']);
    });

    it('releases a group of at least k meters once, as their homomorphic clipped sum plus the drawn noise', () => {
      const { aggregator, store, records, metrics } = setup();
      storeFirstTwoIntervals(store);
      aggregator.run(T0 + 2 * INTERVAL + GRACE);
      const released = records().filter((r) => r.kind === 'aggregate');
      expect(released.map((r) => r.recordId)).toEqual([
        'agg:north:2024-01-10T10:00:00Z',
        'agg:north:2024-01-10T10:30:00Z',
      ]);
      const [first, second] = released;
      expect(AggregateRecord.parse(first!.parsed)).toEqual({
        kind: 'aggregate',
        id: 'agg:north:2024-01-10T10:00:00Z',
        neighbourhood: 'north',
        intervalStart: '2024-01-10T10:00:00Z',
        intervalEnd: '2024-01-10T10:30:00Z',
        v: 2,
        meters: 4,
        k: K,
        release: { shift: layout.releaseShift, bits: expect.any(Number) as number },
        noise: {
          mechanism: 'discrete-gaussian',
          sigma2: `${NOISE.sigma2.num}/${NOISE.sigma2.den}`,
          offset: NOISE.bound.toString(),
          clipWh: RELEASE_BOUNDS.clipWh,
          epsilonPerDay: 100,
          deltaPerDay: 1e-6,
          releasesPerDay: 48,
        },
        ciphertext: expect.stringMatching(/^[0-9a-f]+$/) as string,
      });
      expect(first!.group).toEqual({ neighbourhood: 'north', intervalStart: T0 });
      // m2's 20 000 Wh count as clipWh; the noise is exactly the seeded source's draw, and not zero.
      const firstIds = ['m1:0', 'm2:0', 'm3:0', 'm4:0'];
      expect(clipped(firstIds)).toBeLessThan(sums(firstIds)[0]!);
      expect(releasedValue(first!.parsed)).toBe(clipped(firstIds) + noiseOf('noise', 0));
      expect(noiseOf('noise', 0)).not.toBe(0n);
      // Everything below the release field is masked: the exact band slots are not readable there.
      const low =
        decrypt(key, BigInt(`0x${String(first!.parsed.ciphertext)}`)) &
        ((1n << BigInt(layout.releaseShift)) - 1n);
      expect(low).not.toBe(pack(layout, sums(firstIds)));
      // Exactly k meters is enough.
      expect(second!.parsed.meters).toBe(K);
      expect(releasedValue(second!.parsed)).toBe(clipped(['m1:1', 'm2:1', 'm3:1']) + noiseOf('noise', 1));
      expect(metrics.get('aggregates.released')).toBe(2);
      expect(metrics.get('aggregates.noised')).toBe(2);
    });

    it('draws the noise from its random source: another source, another noise, the same clipped sum under it', () => {
      const a = setup({}, 'one');
      const b = setup({}, 'two');
      for (const s of [a, b]) {
        storeFirstTwoIntervals(s.store);
        s.aggregator.run(T0 + INTERVAL + GRACE);
      }
      const value = (s: typeof a) => releasedValue(s.records().find((r) => r.kind === 'aggregate')!.parsed);
      expect(value(a)).not.toBe(value(b));
      const ids = ['m1:0', 'm2:0', 'm3:0', 'm4:0'];
      expect(value(a) - noiseOf('one', 0)).toBe(clipped(ids));
      expect(value(b) - noiseOf('two', 0)).toBe(clipped(ids));
    });

    it('reports a group below k as suppressed: no ciphertext, no count', () => {
      const { buffer, aggregator, store, records, metrics } = setup();
      storeFirstTwoIntervals(store);
      aggregator.run(T0 + INTERVAL + GRACE);
      const suppressed = records().filter((r) => r.kind === 'suppressed');
      expect(suppressed).toHaveLength(1);
      const body = SuppressedRecord.parse(suppressed[0]!.parsed);
      expect(body).toEqual({
        kind: 'suppressed',
        id: 'agg:tiny:2024-01-10T10:00:00Z',
        neighbourhood: 'tiny',
        intervalStart: '2024-01-10T10:00:00Z',
        intervalEnd: '2024-01-10T10:30:00Z',
        reason: 'below-k',
        k: K,
      });
      expect(suppressed[0]!.body).not.toMatch(/ciphertext|meters/);
      expect(buffer.readings.isDecided({ neighbourhood: 'tiny', intervalStart: T0 })).toBe(true);
      expect(metrics.get('aggregates.suppressed')).toBe(1);
    });

    it('never creates a second record for a group, however often it runs', () => {
      const { aggregator, store, records } = setup();
      storeFirstTwoIntervals(store);
      const late = T0 + 10 * INTERVAL;
      expect(aggregator.run(late)).toBe(3);
      const first = records();
      expect(aggregator.run(late)).toBe(0);
      expect(aggregator.run(late + DAY)).toBe(0);
      expect(records()).toEqual(first);
      expect(new Set(first.map((r) => r.recordId)).size).toBe(3);
    });

    it('a reading arriving after the decision is billed but leaves the released record as it was', () => {
      const { buffer, aggregator, store, records } = setup();
      storeFirstTwoIntervals(store);
      aggregator.run(T0 + INTERVAL + GRACE);
      const before = records().find((r) => r.recordId === 'agg:north:2024-01-10T10:00:00Z')!;
      expect(store('m5:0')).toEqual({ aggregation: 'late', billedLate: false });
      expect(aggregator.run(T0 + INTERVAL + GRACE + MINUTE)).toBe(0);
      expect(aggregator.run(T0 + 10 * INTERVAL)).toBe(1); // interval 1 only
      const after = records().filter(
        (r) => r.group?.intervalStart === T0 && r.group.neighbourhood === 'north',
      );
      expect(after).toEqual([before]);
      expect(releasedValue(before.parsed)).toBe(
        clipped(['m1:0', 'm2:0', 'm3:0', 'm4:0']) + noiseOf('noise', 0),
      );
      // m5's reading is in its bill.
      buffer.foldBills();
      const bill = buffer.billing.get('ACC-m5', DAY0.start)!;
      expect(opened(bill.ciphertext!.toString('hex'))).toEqual(sums(['m5:0']));
    });

    it('does not decide a group again after its acknowledgement deleted its readings', () => {
      const { buffer, aggregator, store, records } = setup();
      storeFirstTwoIntervals(store);
      aggregator.run(T0 + 10 * INTERVAL);
      const batch = buffer.createBatch(100, 0, () => ({ batchId: 'b1', message: 'm', bodyDigest: 'd' }))!;
      expect(buffer.ackBatch(batch.batchId, 'd')).toBe('acked');
      store('m5:0');
      expect(aggregator.run(T0 + 20 * INTERVAL)).toBe(0);
      expect(records()).toEqual([]);
    });
  });

  describe('BillingCloser', () => {
    const m1Bill = ['m1:0', 'm1:1', 'm1:2'];
    /** What every form of ACC-m1's bill of m1Bill says before its totals. */
    const m1Header = {
      kind: 'bill',
      id: 'bill:ACC-m1:2024-01-10T00:00:00Z',
      account: 'ACC-m1',
      periodStart: '2024-01-10T00:00:00Z',
      periodEnd: '2024-01-11T00:00:00Z',
      intervals: 3,
    };

    it('folds the queued readings into the totals once per interval, not at every run', () => {
      const { buffer, closer, store, metrics } = setup();
      const t = T0 + 5 * INTERVAL;
      closer.run(t);
      store('m1:0');
      store('m2:0');
      closer.run(t + 1000); // same interval: still queued
      expect(buffer.pendingBills.count).toBe(2);
      expect(buffer.billing.get('ACC-m1', DAY0.start)).toBeUndefined();
      closer.run(t + INTERVAL); // next interval: folded
      expect(buffer.pendingBills.count).toBe(0);
      expect(metrics.get('billing.folded')).toBe(2);
      const bill = buffer.billing.get('ACC-m1', DAY0.start)!;
      expect(bill.intervals).toBe(1);
      expect(opened(bill.ciphertext!.toString('hex'))).toEqual(sums(['m1:0']));
    });

    it('releases a bill only once its period has ended plus the grace period, and only once', () => {
      const { buffer, closer, store, records, metrics } = setup();
      for (const id of m1Bill) store(id);
      expect(closer.run(DAY0.end)).toBe(0);
      expect(closer.run(DAY0.end + BILL_GRACE - 1)).toBe(0);
      expect(records()).toEqual([]);

      expect(closer.run(DAY0.end + BILL_GRACE)).toBe(1);
      const [record] = records();
      expect(record!.kind).toBe('bill');
      expect(record!.period).toEqual({ account: 'ACC-m1', periodStart: DAY0.start });
      expect(BillRecord.parse(record!.parsed)).toEqual({
        ...m1Header,
        layout: { slotBits: layout.slotBits, slots: ['total', 'peak', 'offpeak'] },
        ciphertext: expect.stringMatching(/^[0-9a-f]+$/) as string,
      });
      expect(opened(record!.parsed.ciphertext)).toEqual(sums(m1Bill));
      // The bill's release field (the clipped sum) is masked with 128 bits more than it can hold.
      const above =
        decrypt(key, BigInt(`0x${String(record!.parsed.ciphertext)}`)) >> BigInt(layout.releaseShift);
      expect(above).not.toBe(clipped(m1Bill));
      expect(above).toBeLessThan(1n << BigInt(layout.billMaskBits + 1));
      expect(buffer.billing.get('ACC-m1', DAY0.start)?.closed).toBe(true);
      expect(metrics.get('bills.released')).toBe(1);

      expect(closer.run(DAY0.end + BILL_GRACE)).toBe(0);
      expect(closer.run(DAY0.end + 30 * DAY)).toBe(0);
      expect(records()).toHaveLength(1);
    });

    it('bills a reading of a closed period in the current one, released after that period', () => {
      const { closer, store, records } = setup();
      for (const id of m1Bill) store(id);
      closer.run(DAY0.end + BILL_GRACE);
      const [first] = records();
      expect(store('m1:3', DAY0, DAY1)).toEqual({ aggregation: 'stored', billedLate: true });
      expect(closer.run(DAY0.end + BILL_GRACE + MINUTE)).toBe(0);
      expect(closer.run(DAY1.end + BILL_GRACE - 1)).toBe(0);
      expect(records()).toEqual([first]);
      expect(opened(first!.parsed.ciphertext)).toEqual(sums(m1Bill));

      expect(closer.run(DAY1.end + BILL_GRACE)).toBe(1);
      const second = records().find((r) => r.recordId !== first!.recordId)!;
      expect(second.parsed).toMatchObject({ periodStart: '2024-01-11T00:00:00Z', intervals: 1 });
      expect(opened(second.parsed.ciphertext)).toEqual(sums(['m1:3']));
    });

    describe('cost-only (billing.reveal)', () => {
      const PRICES = [290_000n, 123_456n];
      const pricing = () => {
        const plan = costPlan({
          slotBits: layout.slotBits,
          prices: PRICES,
          maxBillWh: 20_000n * 1_000n,
          modulusBits: key.publicKey.bits,
          releaseShift: layout.releaseShift,
          maxBillClippedWh: BigInt(RELEASE_BOUNDS.clipWh) * 1_000n,
        });
        return new BillCost(plan, key.publicKey, (m) => engine.encrypt(m));
      };
      /** Σ price × Wh of the given readings' band sums, in 10⁻⁹ currency units. */
      const priced = (ids: string[]) => {
        const [, peak, offpeak] = sums(ids);
        return PRICES[0]! * peak! + PRICES[1]! * offpeak!;
      };

      it('releases only the amount due: prices, costBits and a ciphertext of the priced band sums', () => {
        const cost = pricing();
        const { closer, store, records } = setup({ reveal: 'cost-only', cost });
        for (const id of m1Bill) store(id);
        expect(closer.run(DAY0.end + BILL_GRACE)).toBe(1);
        const [record] = records();
        expect('layout' in record!.parsed).toBe(false);
        const bill = BillRecord.parse(record!.parsed);
        expect(bill).toEqual({
          ...m1Header,
          reveal: 'cost-only',
          prices: { peak: '0.29', offpeak: '0.123456' },
          costBits: cost.plan.costBits,
          ciphertext: expect.stringMatching(/^[0-9a-f]+$/) as string,
        });
        expect(decodeCost(decrypt(key, BigInt(`0x${bill.ciphertext}`)), cost.plan.costBits)).toBe(
          priced(m1Bill),
        );
      });

      it('releases a period opened before the switch to cost-only with its band totals', () => {
        const { buffer, closer, store, records, metrics } = setup();
        for (const id of m1Bill) store(id);
        closer.run(T0 + 5 * INTERVAL); // folded: ACC-m1's day is open in "bands" mode
        const switched = new BillingCloser(
          {
            graceMs: BILL_GRACE,
            intervalMs: INTERVAL,
            foldAt: 1000,
            reveal: 'cost-only',
            cost: pricing(),
            encrypt: (m) => engine.encrypt(m),
            n2: key.publicKey.n2,
          },
          layout,
          buffer,
          metrics,
          silentLogger(),
        );
        store('m1:3');
        store('m2:0');
        expect(switched.run(DAY0.end + BILL_GRACE)).toBe(2);
        const byAccount = new Map(records().map((r) => [r.parsed.account, BillRecord.parse(r.parsed)]));
        const m1 = byAccount.get('ACC-m1')!;
        expect(m1.reveal).toBeUndefined();
        expect(opened(m1.ciphertext)).toEqual(sums([...m1Bill, 'm1:3']));
        const m2 = byAccount.get('ACC-m2')!;
        expect(m2.reveal).toBe('cost-only');
        if (m2.reveal === 'cost-only')
          expect(decodeCost(decrypt(key, BigInt(`0x${m2.ciphertext}`)), m2.costBits)).toBe(priced(['m2:0']));
      });
    });

    it('releases every account separately', () => {
      const { closer, store, records } = setup();
      for (const id of ['m1:0', 'm2:0', 'm2:1', 't1:0']) store(id);
      expect(closer.run(DAY0.end + BILL_GRACE)).toBe(3);
      const byAccount = new Map(records().map((r) => [r.parsed.account, r.parsed]));
      expect([...byAccount.keys()].sort()).toEqual(['ACC-m1', 'ACC-m2', 'ACC-t1']);
      expect(byAccount.get('ACC-m2')!.intervals).toBe(2);
      expect(opened(byAccount.get('ACC-m2')!.ciphertext)).toEqual(sums(['m2:0', 'm2:1']));
      expect(opened(byAccount.get('ACC-t1')!.ciphertext)).toEqual(sums(['t1:0']));
    });
  });
});
