/**
 * Integrity of stored batches (issue #20, 1) on a real SQLite buffer: a hex digit changed in a stored batch is
 * found before the send and the batch rebuilt from its records, byte for byte; a damaged record makes it
 * quarantined, named with what the MDMS lacks, its records kept; the MDMS's nacks rebuild once, then quarantine.
 */
import { generateKeyPairSync } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { BatchRepair } from '../../../gateway/batch/batch-repair.ts';
import { Batcher } from '../../../gateway/batch/batcher.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import type { StoredBatch } from '../../../gateway/buffer/outbox-store.ts';
import { describeLoss, quarantineReport } from '../../../gateway/buffer/quarantine-report.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';

const GW = 'gw-repair';
const T0 = Date.UTC(2012, 9, 10);
const identity = generateKeyPairSync('ed25519');

/** One hex digit of `text` after `marker` changed (what SD-card rot does to a ciphertext). */
function flipHexAfter(text: string, marker: string): string {
  const at = text.indexOf(marker) + marker.length + 5;
  const digit = text[at]!;
  return text.slice(0, at) + (digit === 'a' ? 'b' : 'a') + text.slice(at + 1);
}

describe('BatchRepair', () => {
  let buffer: BufferStore;
  let metrics: Metrics;
  let repair: BatchRepair;
  let batch: StoredBatch;
  const clock = new ManualClock(T0);

  beforeEach(() => {
    metrics = new Metrics();
    buffer = openTestBuffer(97n * 97n, metrics);
    buffer.outbox.add({
      recordId: 'agg:n1:1',
      kind: 'suppressed',
      body: JSON.stringify({ kind: 'suppressed', id: 'agg:n1:1', neighbourhood: 'n1', k: 5 }),
      createdAt: T0,
      group: { neighbourhood: 'n1', intervalStart: T0 },
    });
    buffer.outbox.add({
      recordId: 'bill:acc-7:1',
      kind: 'bill',
      body: JSON.stringify({
        kind: 'bill',
        id: 'bill:acc-7:1',
        account: 'acc-7',
        ciphertext: 'deadbeef0123456789',
      }),
      createdAt: T0,
      period: { account: 'acc-7', periodStart: T0 },
    });
    const batcher = new Batcher(
      { gatewayId: GW, maxRecordsPerBatch: 10 },
      identity,
      buffer,
      metrics,
      silentLogger(),
    );
    batch = batcher.flush(T0, T0)[0]!;
    repair = new BatchRepair({ gatewayId: GW }, identity, buffer, clock, clock, metrics, silentLogger());
  });

  const stored = () => buffer.outbox.batch(batch.batchId)!;
  const corruptMessage = () =>
    buffer.db
      .prepare('UPDATE batches SET message = ? WHERE batch_id = ?')
      .run(flipHexAfter(stored().message, 'ciphertext'), batch.batchId);
  const corruptRecord = (id: string) =>
    buffer.db
      .prepare("UPDATE outbox SET body = replace(body, 'acc-7\"', 'acc-8\"') WHERE record_id = ?")
      .run(id);

  it('sends an intact batch as stored', () => {
    expect(repair.beforeSend(stored())).toEqual(stored());
    expect(metrics.get('batches.corrupt')).toBe(0);
  });

  it('rebuilds a batch whose stored ciphertext lost a hex digit, byte for byte the original', () => {
    corruptMessage();
    expect(stored().message).not.toBe(batch.message);
    const sent = repair.beforeSend(stored());
    expect(sent?.message).toBe(batch.message);
    expect(stored()).toMatchObject({ message: batch.message, bodyDigest: batch.bodyDigest, rebuilds: 1 });
    expect(metrics.get('batches.corrupt')).toBe(1);
    expect(metrics.get('batches.rebuilt')).toBe(1);
    expect(repair.beforeSend(stored())).toEqual(stored());
  });

  it('quarantines a batch whose records are damaged too, naming what is lost, and keeps everything', () => {
    corruptMessage();
    corruptRecord('bill:acc-7:1');
    expect(repair.beforeSend(stored())).toBeUndefined();
    expect(metrics.get('batches.quarantined.BATCH_CORRUPT')).toBe(1);
    expect(buffer.outbox.dueBatches(Number.MAX_SAFE_INTEGER)).toEqual([]);
    // Nothing deleted: the batch and both records stay for the operator.
    expect(buffer.outbox.counts()).toEqual({ records: 2, unbatched: 0, batches: 1 });
    const [entry] = quarantineReport(buffer.db);
    expect(entry).toMatchObject({
      batchId: batch.batchId,
      seq: 1,
      code: 'BATCH_CORRUPT',
      kinds: { bill: 1, suppressed: 1 },
      intervals: ['n1@2012-10-10T00:00:00.000Z'],
      bills: ['acc-7@2012-10-10T00:00:00.000Z'],
    });
    expect(entry!.reason).toMatch(/record bill:acc-7:1 damaged/);
    expect(describeLoss(entry!)).toMatch(
      /^batch gw-repair-00000001 \(seq 1, BATCH_CORRUPT: .*\): 1 bill, 1 suppressed/,
    );
  });

  it('a corruption nack rebuilds once; a nack for the old version is stale; a second refusal quarantines', () => {
    const refused = (
      id: string,
      code: string,
      reason: string,
      digest: string | undefined = batch.bodyDigest,
    ) => repair.refused(id, code, reason, digest);
    // A nack for a body other than the stored one (someone else's message naming this batch) changes nothing.
    expect(refused(batch.batchId, 'SIGNATURE_INVALID', 'forged', 'f'.repeat(64))).toBe('foreign');
    expect(repair.refused(batch.batchId, 'SIGNATURE_INVALID', 'no digest', undefined)).toBe('foreign');
    expect(stored().rebuilds).toBe(0);
    expect(refused(batch.batchId, 'SIGNATURE_INVALID', 'signature does not verify')).toBe('rebuilt');
    expect(stored().rebuilds).toBe(1);
    expect(buffer.outbox.dueBatches(clock.now()).map((b) => b.batchId)).toEqual([batch.batchId]);
    // Another send of the old version, refused before the rebuilt one went out.
    expect(refused(batch.batchId, 'SIGNATURE_INVALID', 'again')).toBe('stale');
    expect(repair.beforeSend(stored())).toBeDefined();
    expect(refused(batch.batchId, 'SIGNATURE_INVALID', 'still')).toBe('quarantined');
    expect(quarantineReport(buffer.db)[0]).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect(refused(batch.batchId, 'SIGNATURE_INVALID', 'late')).toBe('unknown');
  });

  it('an unknown gateway at the MDMS is not the batch’s fault; a layout refusal quarantines at once', () => {
    const d = batch.bodyDigest;
    expect(repair.refused(batch.batchId, 'UNKNOWN_GATEWAY', 'no trusted key', d)).toBe('kept');
    expect(stored().rebuilds).toBe(0);
    expect(repair.refused(batch.batchId, 'LAYOUT', 'does not fit a 2048-bit key', d)).toBe('quarantined');
    expect(metrics.get('batches.quarantined.LAYOUT')).toBe(1);
    expect(repair.refused('gw-repair-00000099', 'LAYOUT', 'never sent', d)).toBe('unknown');
  });
});
