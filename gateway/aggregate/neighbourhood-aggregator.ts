/**
 * Neighbourhood aggregation (invariant 2). Once an interval has closed plus the grace period, the ciphertexts of
 * the meters that reported in a neighbourhood are multiplied into one: the encrypted sum. It is released only if
 * at least k distinct meters contributed; otherwise a suppression (no ciphertext, no count) is reported. Either
 * way the group is decided exactly once: later readings of it go to billing only.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import type { Group } from '../buffer/readings-store.ts';
import { fromBytes, toHex } from '../encrypt/bigint.ts';
import { addCiphertexts, type PaillierPublicKey } from '../encrypt/paillier.ts';
import type { PackingLayout } from '../encrypt/packing.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { AggregateRecordMsg, SuppressedRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';

export interface NeighbourhoodAggregatorOptions {
  k: number;
  intervalMs: number;
  graceMs: number;
  layout: PackingLayout;
}

export class NeighbourhoodAggregator {
  constructor(
    private opts: NeighbourhoodAggregatorOptions,
    private readonly key: PaillierPublicKey,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** k from now on (remote configuration; never below privacy.kFloor, which the configuration rules check). */
  setK(k: number): void {
    this.opts = { ...this.opts, k };
  }

  /** Decides every group whose interval ended at least the grace period before `now`. Returns how many. */
  run(now: number): number {
    const { intervalMs, graceMs } = this.opts;
    const groups = this.buffer.readings.due(now - graceMs - intervalMs);
    for (const group of groups) this.decide(group, now);
    return groups.length;
  }

  private decide(group: Group, now: number): void {
    const { k, intervalMs, layout } = this.opts;
    const rows = this.buffer.readings.ciphertexts(group);
    const meters = new Set(rows.map((r) => r.meterId)).size;
    const id = `agg:${group.neighbourhood}:${isoUtc(group.intervalStart)}`;
    const common = {
      id,
      neighbourhood: group.neighbourhood,
      intervalStart: isoUtc(group.intervalStart),
      intervalEnd: isoUtc(group.intervalStart + intervalMs),
      k,
    };
    const released = meters >= k;
    const record: AggregateRecordMsg | SuppressedRecordMsg = released
      ? {
          kind: 'aggregate',
          ...common,
          meters,
          layout: { slotBits: layout.slotBits, slots: [...layout.slots] },
          ciphertext: toHex(
            addCiphertexts(
              this.key,
              rows.map((r) => fromBytes(r.ciphertext)),
            ),
          ),
        }
      : { kind: 'suppressed', ...common, reason: 'below-k' };
    this.buffer.decideGroup(group, released ? 'released' : 'suppressed', {
      recordId: id,
      kind: record.kind,
      body: JSON.stringify(record),
      createdAt: now,
      group,
    });
    this.metrics.inc(released ? 'aggregates.released' : 'aggregates.suppressed');
    const where = { neighbourhood: group.neighbourhood, intervalStart: common.intervalStart };
    if (released) this.log.debug({ ...where, meters }, 'released');
    else this.log.info({ ...where, k }, 'aggregate suppressed: fewer than k meters reported');
  }
}
