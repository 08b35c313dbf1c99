/**
 * Billing: every reading's ciphertext is queued for its account and period at intake (Buffer.storeReading) and
 * folded into the period's running total here, once per interval (or sooner when many are queued), so that an
 * SD card sees each total rewritten once per interval. Once a period has ended plus the grace period, everything
 * queued for it is folded and its total released as a bill: the packed band totals, or for a period opened in
 * cost-only mode only the amount due, priced on the ciphertexts with the prices in force now (bill-cost.ts).
 * Either way the release field above the slots (each reading's clipped Wh) is masked before it leaves.
 */
import { randomBytes } from 'node:crypto';
import type { BufferStore } from '../buffer/buffer.ts';
import type { BillingPeriodRow, RevealMode } from '../buffer/billing-store.ts';
import { PRICE_DECIMALS } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { decimal, fromBytes, toHex } from '../encrypt/bigint.ts';
import type { PackingLayout } from '../encrypt/packing.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { BillRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';
import type { BillCost } from './bill-cost.ts';

export interface BillingCloserOptions {
  graceMs: number;
  /** Fold the queued ciphertexts at least once per interval of this length... */
  intervalMs: number;
  /** ...or as soon as this many are queued. */
  foldAt: number;
  /** The mode a period not opened yet is opened in (billing.reveal); a period keeps its mode. */
  reveal?: RevealMode;
  /** Prices cost-only periods; without it (no prices configured) none can be closed. */
  cost?: BillCost;
  /**
   * A fresh Paillier encryption (the engine's) and the randomness of the mask that hides a bill's release field
   * (the sum of its clipped readings, which must not leak either: docs/privacy.md §Overflow).
   */
  encrypt: (m: bigint) => bigint;
  /** n² of the supplier's key. */
  n2: bigint;
  random?: (size: number) => Buffer;
}

export class BillingCloser {
  private foldedInterval = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly opts: BillingCloserOptions,
    private readonly layout: PackingLayout,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  run(now: number): number {
    const interval = Math.floor(now / this.opts.intervalMs);
    if (interval !== this.foldedInterval || this.buffer.pendingBills.count >= this.opts.foldAt) {
      const folded = this.buffer.foldBills(this.opts.reveal);
      if (folded > 0) this.metrics.inc('billing.folded', folded);
      this.foldedInterval = interval;
    }
    const due = this.buffer.billsDue(now - this.opts.graceMs, this.opts.reveal);
    for (const row of due) this.close(row, now);
    return due.length;
  }

  private close(row: BillingPeriodRow, now: number): void {
    const id = `bill:${row.account}:${isoUtc(row.periodStart)}`;
    const common = {
      kind: 'bill' as const,
      id,
      account: row.account,
      periodStart: isoUtc(row.periodStart),
      periodEnd: isoUtc(row.periodEnd),
      intervals: row.intervals,
    };
    const record: BillRecordMsg =
      row.reveal === 'cost-only'
        ? { ...common, ...this.costOnly(row) }
        : {
            ...common,
            layout: { slotBits: this.layout.slotBits, slots: [...this.layout.slots] },
            ciphertext: toHex(this.maskRelease(fromBytes(row.ciphertext!))),
          };
    this.buffer.closePeriod(row, {
      recordId: id,
      kind: 'bill',
      body: JSON.stringify(record),
      createdAt: now,
      period: { account: row.account, periodStart: row.periodStart },
    });
    this.metrics.inc('bills.released');
    this.log.info(
      { account: row.account, periodStart: record.periodStart, intervals: row.intervals, reveal: row.reveal },
      'bill released',
    );
  }

  /** The fields of a cost-only bill: the prices, the cost's bit width and E(cost + masked upper part). */
  private costOnly(row: BillingPeriodRow) {
    const cost = this.opts.cost;
    if (!cost) {
      // The gateway refuses to start in this state (Gateway.start); kept as a guard.
      throw new GatewayError(
        'CONFIG_INVALID',
        'a cost-only period is due but billing.bands[].price is not set',
      );
    }
    const accumulators = this.buffer.billing
      .bands(row.account, row.periodStart)
      .map((t) => ({ band: t.band, ciphertext: fromBytes(t.ciphertext) }));
    return {
      reveal: 'cost-only' as const,
      prices: Object.fromEntries(
        cost.plan.prices.map((p, band) => [this.layout.slots[1 + band]!, decimal(p, PRICE_DECIMALS)]),
      ),
      costBits: cost.plan.costBits,
      ciphertext: toHex(cost.encryptedCost(accumulators)),
    };
  }

  /** C · E(2^s·M'), M' uniform over [0, 2^billMaskBits): the bill's clipped sum is hidden, its slots unchanged. */
  private maskRelease(c: bigint): bigint {
    const { releaseShift, billMaskBits } = this.layout;
    const bytes = Math.ceil(billMaskBits / 8);
    const m = fromBytes((this.opts.random ?? randomBytes)(bytes)) >> BigInt(bytes * 8 - billMaskBits);
    return (c * this.opts.encrypt(m << BigInt(releaseShift))) % this.opts.n2;
  }
}
