/**
 * The buffer's marker (issue #20): a small file beside the buffer, outside SQLite, that says how far the buffer
 * had got, so that a buffer found behind it at start (its WAL lost, the file emptied, replaced or restored from an
 * old copy) is refused instead of silently starting again at batch 1 (docs/reliability.md, "A buffer behind its
 * marker"). Written atomically (temporary file, fsync, rename, fsync of the directory), mode 0600.
 *
 * Every value it holds only ever grows in a healthy buffer: the batch sequence, the data clock's high-water mark
 * and the latest interval stored; so "behind" is any of them lower in the buffer than in the marker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Statement } from 'better-sqlite3';
import { z } from 'zod';
import { writeFileAtomic } from '../remote/atomic-file.ts';
import type { Db } from './database.ts';
import { HIGH_WATER_KEY } from './state-store.ts';

export const MARKER_FILE = 'buffer-marker.json';
/** The buffer's identity, a random id written into its `state` table when it is created. */
export const BUFFER_ID_KEY = 'buffer.id';

/** How far a buffer had got. Times are epoch milliseconds (data time), null when nothing happened yet. */
export interface BufferMark {
  bufferId: string | null;
  /** The last batch sequence number created. */
  batchSeq: number;
  /** Every batch up to this sequence number is acknowledged (the others are unacknowledged or lost). */
  ackedThrough: number;
  /** The data clock's high-water mark: the latest data time the gateway acted on (groups decided, bills closed). */
  highWater: number | null;
  /** The latest interval start stored for any meter. */
  lastInterval: number | null;
  /** The latest interval start of a group decided (released or suppressed). */
  decidedThrough: number | null;
  /** The latest end of a billing period closed (its bill released). */
  closedThrough: number | null;
}

const Ms = z.number().int().nullable();
const MarkerFile = z
  .object({
    v: z.literal(1),
    writtenAt: z.string(),
    bufferId: z.string().min(1),
    batchSeq: z.number().int().nonnegative(),
    ackedThrough: z.number().int().nonnegative(),
    highWater: Ms,
    lastInterval: Ms,
    decidedThrough: Ms,
    closedThrough: Ms,
  })
  .strict();
export type Marker = z.infer<typeof MarkerFile>;

export const markerPath = (dataDir: string) => path.join(dataDir, MARKER_FILE);

/** The marker of `dataDir`: undefined when there is none, 'unreadable' when it cannot be parsed. */
export function readMarker(dataDir: string): Marker | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(markerPath(dataDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unreadable';
  }
  try {
    const parsed = MarkerFile.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

export function writeMarker(dataDir: string, mark: BufferMark & { bufferId: string }, at: number): void {
  const marker: Marker = { v: 1, writtenAt: new Date(at).toISOString(), ...mark };
  writeFileAtomic(markerPath(dataDir), `${JSON.stringify(marker)}\n`);
}

/** Reads the mark of the buffer as committed now: small queries on indexes or tiny tables, cheap per tick. */
export class MarkReader {
  private readonly state: Statement<[string], { value: string }>;
  private readonly queries: Record<
    'oldestUnacked' | 'lastInterval' | 'decided' | 'closed',
    Statement<[], Row>
  >;

  constructor(db: Db) {
    this.state = db.prepare('SELECT value FROM state WHERE key = ?');
    this.queries = {
      oldestUnacked: db.prepare('SELECT MIN(seq) AS v FROM batches'),
      lastInterval: db.prepare('SELECT MAX(last_interval_start) AS v FROM meter_cursors'),
      decided: db.prepare('SELECT MAX(interval_start) AS v FROM decided_groups'),
      closed: db.prepare('SELECT MAX(period_end) AS v FROM billing_periods WHERE closed = 1'),
    };
  }

  read(): BufferMark {
    const state = (key: string) => this.state.get(key)?.value;
    const one = (q: keyof MarkReader['queries']) => this.queries[q].get()?.v ?? null;
    const batchSeq = Number(state('batch.seq') ?? '0');
    const oldestUnacked = one('oldestUnacked');
    const highWater = Number(state(HIGH_WATER_KEY) ?? 'NaN');
    return {
      bufferId: state(BUFFER_ID_KEY) ?? null,
      batchSeq,
      ackedThrough: oldestUnacked === null ? batchSeq : oldestUnacked - 1,
      highWater: Number.isFinite(highWater) ? highWater : null,
      lastInterval: one('lastInterval'),
      decidedThrough: one('decided'),
      closedThrough: one('closed'),
    };
  }
}

interface Row {
  v: number | null;
}

export const markOf = (db: Db): BufferMark => new MarkReader(db).read();

/** The larger of two optional instants (a marker keeps the furthest point ever seen). */
export const later = (a: number | null, b: number | null) =>
  a === null ? b : b === null ? a : Math.max(a, b);

/** The mark of a buffer with no schema yet (a zero-length file). */
export const EMPTY_MARK: BufferMark = {
  bufferId: null,
  batchSeq: 0,
  ackedThrough: 0,
  highWater: null,
  lastInterval: null,
  decidedThrough: null,
  closedThrough: null,
};

/** Whether a buffer is empty as a first start makes it: no batch, no reading, no decision, no identity. */
export function isFresh(mark: BufferMark): boolean {
  return (
    mark.bufferId === null && mark.batchSeq === 0 && mark.lastInterval === null && mark.highWater === null
  );
}
