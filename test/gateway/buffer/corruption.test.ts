/**
 * A buffer found corrupt while running (issue #20), on a real SQLite file damaged behind SQLite's back: the
 * statement's SQLITE_CORRUPT is noted once, the storage status shows it (health; Prometheus in the e2e test) and
 * logs it once, and
 * nothing more is deleted (acknowledgements refused with BUFFER_CORRUPT, the outbox limits drop nothing).
 */
import Database from 'better-sqlite3';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isCorruption } from '../../../gateway/buffer/corruption.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { StorageStatus } from '../../../gateway/observe/storage-status.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import pino from 'pino';

/** Overwrites the root page of `table` in the database file, then pokes the WAL so that readers re-read it. */
function corruptTable(file: string, table: string): void {
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const { rootpage } = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as {
    rootpage: number;
  };
  const size = db.pragma('page_size', { simple: true }) as number;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(size, 0xa5), 0, size, (rootpage - 1) * size);
  fsyncSync(fd);
  closeSync(fd);
  db.prepare("INSERT OR REPLACE INTO state (key, value) VALUES ('test.poke', '1')").run();
  db.close();
}

describe('a corrupt buffer while running', () => {
  it('is noted once, shown as corrupt and not writable, and nothing more is deleted', () => {
    const file = tempBufferFile('corrupt-');
    const metrics = new Metrics();
    const buffer = openTestBuffer(97n * 97n, metrics, { file });
    const lines: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'debug' },
      { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) },
    );
    const storage = new StorageStatus(
      '/data',
      new ManualClock(Date.parse('2026-12-08T01:00:00Z')),
      metrics,
      log,
    );
    buffer.corruption.onCorruption((e) => storage.corrupted(e));
    buffer.outbox.add({ recordId: 'r1', kind: 'aggregate', body: '{}', createdAt: 1 });
    buffer.createBatch(10, 1, (seq) => ({ batchId: `b${seq}`, message: 'm', bodyDigest: 'd' }));

    corruptTable(file, 'batches');
    let caught: unknown;
    try {
      buffer.ackBatch('b1', 'd');
    } catch (error) {
      caught = error;
    }
    expect(isCorruption(caught)).toBe(true);
    expect(buffer.corruption.corrupt).toBe(true);
    // From now on an acknowledgement deletes nothing, whatever page it would touch; limits drop nothing.
    try {
      buffer.ackBatch('b1', 'd');
      expect.unreachable();
    } catch (error) {
      expect(isGatewayError(error, 'BUFFER_CORRUPT')).toBe(true);
    }
    expect(buffer.enforceLimits(Number.MAX_SAFE_INTEGER, 0)).toBe(0);

    const snapshot = storage.snapshot();
    expect(snapshot).toMatchObject({
      writable: false,
      corrupt: true,
      lastErrorCode: expect.stringMatching(/^SQLITE_CORRUPT/) as string,
    });
    storage.succeeded(); // a write that works elsewhere does not end it
    expect(storage.writable).toBe(false);
    expect(lines.filter((l) => l.level === 50 && l.msg.startsWith('the buffer is corrupt'))).toHaveLength(1);
    expect(Object.keys(metrics.snapshot()).some((k) => k.startsWith('storage.corrupt.SQLITE_CORRUPT'))).toBe(
      true,
    );

    buffer.close();
  });
});
