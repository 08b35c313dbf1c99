/**
 * Erasing a household's history on a real SQLite file: the sealed values are gone from the database file and
 * its WAL right after the erase (a truncating checkpoint and a VACUUM), while the other
 * households' history stays intact and readable. And the refusal budget: a flood of bad requests gets a few
 * answers, then only counts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import type { SealedEntry } from '../../../gateway/customer/history-store.ts';
import { TokenBucket } from '../../../gateway/customer/token-bucket.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

const HALF_HOUR = 1_800_000;
const entries = (meterId: string, n: number): SealedEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    meterId,
    start: i * HALF_HOUR,
    end: (i + 1) * HALF_HOUR,
    pseudonym: `${meterId}-p`,
    sealed: randomBytes(90).toString('base64url'),
  }));

const inFiles = (file: string, text: string) =>
  [file, `${file}-wal`].some((f) => existsSync(f) && readFileSync(f).includes(Buffer.from(text)));

describe('history erase', () => {
  it('leaves nothing of the erased history in the database file or its WAL, and the rest intact', () => {
    const file = tempBufferFile('erase-');
    const buffer = openTestBuffer(97n * 97n, new Metrics(), { file });
    buffers.push(buffer);
    const mine = entries('m1', 400);
    const theirs = entries('m2', 50);
    buffer.history.add([...mine, ...theirs]);
    buffer.db.pragma('wal_checkpoint(TRUNCATE)'); // as after the gateway's periodic checkpoints
    buffer.history.add(entries('m1', 3).map((e) => ({ ...e, start: e.start + 1e9, end: e.end + 1e9 }))); // in the WAL only
    expect(mine.every((e) => inFiles(file, e.sealed))).toBe(true);

    expect(buffer.history.erase('m1')).toBe(403);
    expect(mine.filter((e) => inFiles(file, e.sealed))).toEqual([]);
    expect(buffer.history.count('m1', 'm1-p')).toBe(0);
    expect(buffer.history.range('m2', 'm2-p', 0, Number.MAX_SAFE_INTEGER, 100)).toHaveLength(50);
    expect(buffer.db.pragma('integrity_check', { simple: true })).toBe('ok');
    // Nothing left to erase: nothing to do.
    expect(buffer.history.erase('m1')).toBe(0);
  });
});

describe('the refusal budget', () => {
  it('answers a burst, then about the rate, and refills with time', () => {
    let now = 0;
    const bucket = new TokenBucket(5, 20, () => now);
    const taken = (n: number) => Array.from({ length: n }, () => bucket.take()).filter(Boolean).length;
    expect(taken(100)).toBe(20);
    now += 1000;
    expect(taken(100)).toBe(5);
    now += 60_000;
    expect(taken(100)).toBe(20);
  });
});
