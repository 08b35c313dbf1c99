/**
 * Billing: every reading's ciphertext is queued for its account and period at intake (Buffer.storeReading) and
 * folded into the period's running total here, once per interval (or sooner when many are queued), so that an
 * SD card sees each total rewritten once per interval. Once a period has ended plus the grace period, everything
 * queued for it is folded and its total released as a bill.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import type { BillingPeriodRow } from '../buffer/billing-store.ts';
import { fromBytes, toHex } from '../encrypt/bigint.ts';
import type { PackingLayout } from '../encrypt/packing.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { BillRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';

export interface BillingCloserOptions {
  graceMs: number;
  /** Fold the queued ciphertexts at least once per interval of this length... */
  intervalMs: number;
  /** ...or as soon as this many are queued. */
  foldAt: number;
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
      const folded = this.buffer.foldBills();
      if (folded > 0) this.metrics.inc('billing.folded', folded);
      this.foldedInterval = interval;
    }
    const due = this.buffer.billsDue(now - this.opts.graceMs);
    for (const row of due) this.close(row, now);
    return due.length;
  }

  private close(row: BillingPeriodRow, now: number): void {
    const id = `bill:${row.account}:${isoUtc(row.periodStart)}`;
    const record: BillRecordMsg = {
      kind: 'bill',
      id,
      account: row.account,
      periodStart: isoUtc(row.periodStart),
      periodEnd: isoUtc(row.periodEnd),
      intervals: row.intervals,
      layout: { slotBits: this.layout.slotBits, slots: [...this.layout.slots] },
      ciphertext: toHex(fromBytes(row.ciphertext)),
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
      { account: row.account, periodStart: record.periodStart, intervals: row.intervals },
      'bill released',
    );
  }
}
