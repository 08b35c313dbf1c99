/**
 * Billing: every reading is folded into its account's running ciphertext for the period at intake
 * (Buffer.storeReading). Here, once a period has ended plus the grace period, its total is released as a bill.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import type { BillingPeriodRow } from '../buffer/billing-store.ts';
import { fromBytes, toHex } from '../encrypt/bigint.ts';
import type { PackingLayout } from '../encrypt/packing.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { BillRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';

export class BillingCloser {
  constructor(
    private readonly graceMs: number,
    private readonly layout: PackingLayout,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  run(now: number): number {
    const due = this.buffer.billing.due(now - this.graceMs);
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
