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
    private readonly opts: NeighbourhoodAggregatorOptions,
    private readonly key: PaillierPublicKey,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

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
    if (meters >= k) {
      const sum = addCiphertexts(
        this.key,
        rows.map((r) => fromBytes(r.ciphertext)),
      );
      const record: AggregateRecordMsg = {
        kind: 'aggregate',
        ...common,
        meters,
        layout: { slotBits: layout.slotBits, slots: [...layout.slots] },
        ciphertext: toHex(sum),
      };
      this.buffer.decideGroup(group, 'released', {
        recordId: id,
        kind: 'aggregate',
        body: JSON.stringify(record),
        createdAt: now,
        group,
      });
      this.metrics.inc('aggregates.released');
      this.log.debug(
        { neighbourhood: group.neighbourhood, intervalStart: common.intervalStart, meters },
        'released',
      );
    } else {
      const record: SuppressedRecordMsg = { kind: 'suppressed', ...common, reason: 'below-k' };
      this.buffer.decideGroup(group, 'suppressed', {
        recordId: id,
        kind: 'suppressed',
        body: JSON.stringify(record),
        createdAt: now,
        group,
      });
      this.metrics.inc('aggregates.suppressed');
      this.log.info(
        { neighbourhood: group.neighbourhood, intervalStart: common.intervalStart, k },
        'aggregate suppressed: fewer than k meters reported',
      );
    }
  }
}
