/**
 * The batcher on a real SQLite buffer: records are batched oldest first, and no more than `maxBatchedRecords`
 * wait in unacknowledged batches, so that during an outage the rest stay where the outbox limit can drop them.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Batcher } from '../../../gateway/batch/batcher.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openEnvelope } from '../../../gateway/protocol/envelope.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';

const N2 = 1_000_003n * 1_000_003n;
const key = generateKeyPairSync('ed25519');
const open: BufferStore[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function setup(maxBatchedRecords: number) {
  const metrics = new Metrics();
  const buffer = openTestBuffer(N2, metrics, {
    limits: { maxPendingReadings: 1000, maxOutboxRecords: 1000 },
  });
  open.push(buffer);
  const batcher = new Batcher(
    { gatewayId: 'gw-t', maxRecordsPerBatch: 3, maxBatchedRecords },
    key,
    buffer,
    metrics,
    silentLogger(),
  );
  const add = (i: number, kind: 'suppressed' | 'bill' = 'suppressed') =>
    buffer.outbox.add({
      recordId: `r${String(i).padStart(3, '0')}`,
      kind,
      body: JSON.stringify({ kind, id: `r${i}` }),
      createdAt: i,
    });
  const ids = (message: string) =>
    (openEnvelope(message, key.publicKey).body as { records: { id: string }[] }).records.map((r) => r.id);
  return { buffer, batcher, add, ids };
}

describe('Batcher', () => {
  it('batches oldest first in batches of maxRecordsPerBatch while there is room', () => {
    const { buffer, batcher, add, ids } = setup(100);
    for (let i = 0; i < 7; i++) add(i, i === 4 ? 'bill' : 'suppressed');
    const batches = batcher.flush(1000);
    expect(batches.map((b) => b.seq)).toEqual([1, 2, 3]);
    expect(batches.map((b) => ids(b.message))).toEqual([['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6']]);
    expect(buffer.outbox.counts()).toEqual({ records: 7, unbatched: 0, batches: 3 });
  });

  it('holds records back once maxBatchedRecords wait in unacknowledged batches, and resumes after an ack', () => {
    const { buffer, batcher, add, ids } = setup(5);
    for (let i = 0; i < 9; i++) add(i);
    const first = batcher.flush(1000);
    expect(first.map((b) => ids(b.message))).toEqual([
      ['r0', 'r1', 'r2'],
      ['r3', 'r4'],
    ]);
    expect(buffer.outbox.counts()).toEqual({ records: 9, unbatched: 4, batches: 2 });
    // No room: nothing more is signed, however often the schedule runs.
    expect(batcher.flush(2000)).toEqual([]);
    expect(buffer.outbox.counts().unbatched).toBe(4);
    // The MDMS acknowledges the first batch: three places free up, the oldest waiting records take them.
    expect(buffer.ackBatch(first[0]!.batchId, first[0]!.bodyDigest)).toBe('acked');
    const next = batcher.flush(3000);
    expect(next.map((b) => [b.seq, ids(b.message)])).toEqual([[3, ['r5', 'r6', 'r7']]]);
    expect(buffer.outbox.counts()).toEqual({ records: 6, unbatched: 1, batches: 2 });
  });
});
