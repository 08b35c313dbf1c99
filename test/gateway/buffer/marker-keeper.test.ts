/**
 * The buffer's marker (issue #20) on real SQLite files in a real data directory: a first start, the spacing of
 * writes, a buffer restored from an older copy (behind), a replaced one, an unreadable marker, and what
 * accepting the loss does (batch numbers, decided groups, closed bills not repeated). Ciphertexts are small
 * integers modulo a small "n²": no cryptography is under test.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferStore, type EncryptedReading } from '../../../gateway/buffer/buffer.ts';
import { DATA_LOSS_KEY } from '../../../gateway/buffer/marker-check.ts';
import { MARKER_EVERY_MS, MarkerKeeper } from '../../../gateway/buffer/marker-keeper.ts';
import { MARKER_FILE, markerPath, readMarker, type Marker } from '../../../gateway/buffer/marker.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';
import { isGatewayError, type ErrorCode } from '../../../gateway/errors.ts';

const N2 = 1_000_003n * 1_000_003n;
const HALF_HOUR = 30 * 60_000;
const T0 = Date.parse('2024-01-10T10:00:00Z');
const DAY = { start: Date.parse('2024-01-10T00:00:00Z'), end: Date.parse('2024-01-11T00:00:00Z') };

const open: BufferStore[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'marker-'));
  const file = path.join(dir, 'buffer.sqlite');
  const elapsed = new ManualClock(0);
  const wall = new ManualClock(Date.parse('2026-12-08T01:00:00Z'));
  const start = (acceptDataLoss = false) => {
    const buffer = BufferStore.open(
      file,
      { synchronous: 'NORMAL' },
      N2,
      { maxPendingReadings: 1000, maxOutboxRecords: 1000 },
      new Metrics(),
    );
    open.push(buffer);
    const keeper = new MarkerKeeper(
      { dataDir: dir, file, acceptDataLoss, reveal: 'bands' },
      buffer,
      elapsed,
      wall,
      silentLogger(),
    );
    try {
      keeper.start();
    } catch (error) {
      buffer.close();
      throw error;
    }
    return { buffer, keeper };
  };
  const marker = () => readMarker(dir) as Marker;
  return { dir, file, elapsed, wall, start, marker };
}

function reading(meterId: string, intervalStart: number): EncryptedReading {
  return {
    meterId,
    neighbourhood: 'north',
    account: `ACC-${meterId}`,
    intervalStart,
    band: 0,
    ciphertext: 7n,
    period: DAY,
    currentPeriod: DAY,
  };
}

const record = (id: string, at: number) => ({
  recordId: id,
  kind: 'aggregate' as const,
  body: '{}',
  createdAt: at,
});
const batch = (buffer: BufferStore, now: number) =>
  buffer.createBatch(10, now, (seq) => ({ batchId: `gw-${seq}`, message: `m${seq}`, bodyDigest: `d${seq}` }));

/** The error `fn` throws, which must be a GatewayError with `code`. */
function refused(code: ErrorCode, fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    expect(isGatewayError(error, code), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** An old copy of the buffer as it is now (a backup, or what a lost WAL leaves), to put back later. */
function snapshot(buffer: BufferStore, file: string): () => void {
  const copy = `${file}.old`;
  buffer.db.exec(`VACUUM INTO '${copy}'`);
  return () => {
    buffer.close();
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    copyFileSync(copy, file);
  };
}

describe('the buffer marker', () => {
  it('a first start writes a marker 0600 with a new identity; a restart in step is normal', () => {
    const s = setup();
    const { buffer } = s.start();
    const m = s.marker();
    expect(m.bufferId).toMatch(/^[0-9a-f-]{36}$/);
    expect(m).toMatchObject({ batchSeq: 0, ackedThrough: 0, lastInterval: null, highWater: null });
    expect(statSync(markerPath(s.dir)).mode & 0o777).toBe(0o600);
    buffer.storeReading(reading('m1', T0));
    buffer.close();
    s.start();
    expect(s.marker()).toMatchObject({ bufferId: m.bufferId, lastInterval: T0 });
  });

  it('is written at once for a batch, otherwise at most every MARKER_EVERY_MS', () => {
    const s = setup();
    const { buffer, keeper } = s.start();
    buffer.storeReading(reading('m1', T0));
    keeper.update();
    expect(s.marker().lastInterval).toBeNull();
    s.elapsed.advance(MARKER_EVERY_MS);
    keeper.update();
    expect(s.marker().lastInterval).toBe(T0);
    buffer.decideGroup({ neighbourhood: 'north', intervalStart: T0 }, 'released', record('r1', T0));
    batch(buffer, 1);
    keeper.update();
    expect(s.marker()).toMatchObject({ batchSeq: 1, ackedThrough: 0, decidedThrough: T0 });
    buffer.ackBatch('gw-1', 'd1');
    s.elapsed.advance(MARKER_EVERY_MS);
    keeper.update();
    // The decision's rows went with the acknowledgement; the marker keeps how far decisions went.
    expect(s.marker()).toMatchObject({ batchSeq: 1, ackedThrough: 1, decidedThrough: T0 });
  });

  it('refuses a buffer put back from an older copy, naming what is missing; accepting continues after it', () => {
    const s = setup();
    const { buffer, keeper } = s.start();
    for (const m of ['m1', 'm2']) buffer.storeReading(reading(m, T0));
    const restoreOld = snapshot(buffer, s.file);
    buffer.storeReading(reading('m1', T0 + HALF_HOUR));
    buffer.decideGroup(
      { neighbourhood: 'north', intervalStart: T0 },
      'released',
      record('r1', T0 + 3 * HALF_HOUR),
    );
    batch(buffer, 1);
    buffer.decideGroup(
      { neighbourhood: 'north', intervalStart: T0 + HALF_HOUR },
      'released',
      record('r2', T0 + 4 * HALF_HOUR),
    );
    batch(buffer, 2);
    buffer.ackBatch('gw-1', 'd1');
    keeper.update();
    const before = s.marker();
    restoreOld();

    const refusal = refused('BUFFER_BEHIND_MARKER', () => s.start());
    expect(refusal.message).toContain('behind its marker');
    expect(refusal.message).toContain('unacknowledged batches 2..2 (the buffer has batches up to 0)');
    expect(refusal.message).toContain(
      `readings of intervals after ${isoUtc(T0)} up to ${isoUtc(T0 + HALF_HOUR)}`,
    );
    expect(refusal.message).toContain('--accept-data-loss');

    const { buffer: again } = s.start(true);
    // Batch numbers go on after the marker's; the group the lost buffer released is not decided again.
    expect(batch(again, 5)).toBeUndefined();
    expect(again.state.get('batch.seq')).toBe(String(before.batchSeq));
    expect(again.readings.isDecided({ neighbourhood: 'north', intervalStart: T0 })).toBe(true);
    expect(again.readings.pendingCount()).toBe(0);
    // A reading of a decided interval that arrives again (a replay from an older cursor) is late, not aggregated.
    expect(again.storeReading(reading('m3', T0 + HALF_HOUR)).aggregation).toBe('late');
    expect(JSON.parse(again.state.get(DATA_LOSS_KEY)!)).toMatchObject({
      missing: expect.stringContaining('batches 2..2') as string,
    });
    // The marker now describes this buffer: the next start is normal.
    again.close();
    s.start();
  });

  it('withholds, on acceptance, the open bills of periods the lost buffer had closed', () => {
    const s = setup();
    const { buffer, keeper } = s.start();
    buffer.storeReading(reading('m1', T0));
    buffer.foldBills();
    const restoreOld = snapshot(buffer, s.file);
    const [row] = buffer.billsDue(DAY.end);
    buffer.closePeriod(row!, {
      ...record('b1', DAY.end),
      kind: 'bill',
      period: { account: 'ACC-m1', periodStart: DAY.start },
    });
    keeper.update(true);
    expect(s.marker().closedThrough).toBe(DAY.end);
    restoreOld();
    refused('BUFFER_BEHIND_MARKER', () => s.start());
    const { buffer: again } = s.start(true);
    expect(again.billsDue(DAY.end)).toEqual([]);
    expect(again.withheld.has('ACC-m1', DAY.start)).toBe(true);
  });

  it('a marker the file system refuses does not stop the gateway; it is written once it can be', () => {
    const s = setup();
    const { buffer, keeper } = s.start();
    buffer.storeReading(reading('m1', T0));
    // The temporary file's name taken by a directory: the write fails (EISDIR) as on a full or read-only disk.
    const blocker = path.join(s.dir, `.${MARKER_FILE}.${process.pid}.tmp`);
    mkdirSync(blocker);
    expect(() => keeper.update(true)).not.toThrow();
    expect(s.marker().lastInterval).toBeNull();
    rmdirSync(blocker);
    keeper.update(true);
    expect(s.marker().lastInterval).toBe(T0);
  });

  it('refuses a replaced or emptied buffer and an unreadable marker; data without a marker is taken', () => {
    const s = setup();
    const { buffer } = s.start();
    buffer.storeReading(reading('m1', T0));
    buffer.close();
    const { bufferId } = s.marker();
    for (const f of [s.file, `${s.file}-wal`, `${s.file}-shm`]) rmSync(f, { force: true });
    writeFileSync(s.file, '');
    const emptied = refused('BUFFER_BEHIND_MARKER', () => s.start());
    expect(emptied.message).toContain(`describes buffer ${bufferId}, this is a buffer without identity`);

    writeFileSync(markerPath(s.dir), '{"v":1,');
    expect(refused('BUFFER_BEHIND_MARKER', () => s.start()).message).toContain('marker cannot be read');

    rmSync(markerPath(s.dir));
    const fresh = s.start().buffer;
    fresh.storeReading(reading('m1', T0));
    fresh.close();
    rmSync(markerPath(s.dir));
    s.start();
    expect(s.marker().lastInterval).toBe(T0);
  });
});
