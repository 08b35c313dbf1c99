/**
 * Keeps the buffer's marker (marker.ts) up to date while the gateway runs, and checks it at start
 * (marker-check.ts).
 *
 * When: at once when a batch has been created (before it is published: a batch the MDMS may have seen must never
 * be numbered again), otherwise when anything advanced and at least MARKER_EVERY_MS have passed, and at a stop.
 * So what can still go undetected is what the buffer committed in the last MARKER_EVERY_MS before a loss (readings
 * stored, groups decided, bills closed): never a batch.
 *
 * The marker must never be ahead of what is *durable* in the buffer, or a power cut (which with `synchronous:
 * NORMAL` may drop the commits since the WAL was last synced) would read as data loss at every start. So before
 * each write the WAL and the database file are fsynced: everything committed so far is then on the card, and the
 * marker claims no more than that. One fsync of a file SQLite appends to anyway, at most once per
 * MARKER_EVERY_MS or per batch.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { errorCode } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Clock } from '../time/clock.ts';
import type { RevealMode } from './billing-store.ts';
import type { BufferStore } from './buffer.ts';
import { removeStaleTemps } from '../remote/atomic-file.ts';
import { later, MarkReader, markerPath, readMarker, writeMarker, type BufferMark } from './marker.ts';
import {
  acceptLoss,
  behindMarker,
  compareWithMarker,
  ensureIdentity,
  lastAcceptedLoss,
} from './marker-check.ts';

/** At most one marker write per this much elapsed time, besides one per batch. */
export const MARKER_EVERY_MS = 10_000;

export interface MarkerKeeperOptions {
  dataDir: string;
  /** The buffer file (named in messages, and its WAL fsynced). */
  file: string;
  /** `--accept-data-loss`: a buffer behind its marker starts, the loss logged and recorded. */
  acceptDataLoss: boolean;
  /** The mode the billing closer opens periods in (for folding before withholding). */
  reveal: RevealMode;
}

export class MarkerKeeper {
  private written: (BufferMark & { bufferId: string }) | undefined;
  private writtenAt = Number.NEGATIVE_INFINITY;
  private readonly reader: MarkReader;
  private writeFailing = false;
  /** The furthest decision and closed bill the marker of this buffer ever held (kept across restarts). */
  private furthest: Pick<BufferMark, 'decidedThrough' | 'closedThrough'> = {
    decidedThrough: null,
    closedThrough: null,
  };

  constructor(
    private readonly opts: MarkerKeeperOptions,
    private readonly buffer: BufferStore,
    /** Elapsed time, for the spacing of writes. */
    private readonly elapsed: Clock,
    /** Calendar time, for the marker's and the acceptance's timestamps. */
    private readonly wall: Clock,
    private readonly log: Logger,
  ) {
    this.reader = new MarkReader(buffer.db);
  }

  /**
   * Compares the buffer with the marker; refuses a buffer behind it (BUFFER_BEHIND_MARKER) unless the loss is
   * accepted; then gives the buffer an identity if it has none and writes the marker.
   */
  start(): void {
    const { dataDir, file, acceptDataLoss } = this.opts;
    const removed = removeStaleTemps(markerPath(dataDir));
    if (removed.length > 0) this.log.info({ removed }, 'removed what an interrupted marker write left');
    const marker = readMarker(dataDir);
    const mark = this.reader.read();
    const verdict = compareWithMarker(mark, marker);
    if (
      marker !== undefined &&
      marker !== 'unreadable' &&
      (marker.bufferId === mark.bufferId || acceptDataLoss)
    )
      this.furthest = { decidedThrough: marker.decidedThrough, closedThrough: marker.closedThrough };
    if (verdict.kind === 'behind') {
      if (!acceptDataLoss) throw behindMarker(file, verdict.missing);
      const known = marker === 'unreadable' ? undefined : marker;
      const done = acceptLoss(this.buffer, known, verdict.missing, this.opts.reveal, this.wall.now());
      this.log.error(
        { missing: verdict.missing, groupsSuppressed: done.groups, billsWithheld: done.periods },
        'data loss accepted (--accept-data-loss): the buffer was behind its marker; the gateway continues after ' +
          'what was lost (batch numbers, decided groups and closed bills are not repeated)',
      );
    } else if (verdict.kind === 'no-marker') {
      this.log.warn(
        { file },
        'the buffer has data but the data directory has no marker (a gateway from before markers, or the marker ' +
          'was deleted): taken as it is, marker written',
      );
    }
    ensureIdentity(this.buffer, randomUUID);
    // A new identity must reach the database file, not only the WAL: a WAL lost later then still shows which
    // buffer this is, and the start can say exactly which batches are missing.
    if (verdict.kind === 'first-start') this.buffer.db.pragma('wal_checkpoint(TRUNCATE)');
    this.update(true);
  }

  /** The last loss accepted on this buffer, for the health message. */
  lastAcceptedLoss(): { at: string; missing: string } | null {
    return lastAcceptedLoss(this.buffer);
  }

  /**
   * Writes the marker when a batch was created since the last write, or when anything advanced and
   * MARKER_EVERY_MS have passed, or when `force`d (start, stop). A write the file system refuses is logged once
   * and retried at the next call; a buffer that cannot be read throws (the caller's guard notes a corruption).
   */
  update(force = false): void {
    const now = this.reader.read();
    const prev = this.written;
    // Decisions and closed bills are pruned or deleted after their acknowledgement: keep the furthest seen.
    this.furthest = {
      decidedThrough: later(now.decidedThrough, this.furthest.decidedThrough),
      closedThrough: later(now.closedThrough, this.furthest.closedThrough),
    };
    const mark = { ...now, ...this.furthest, bufferId: now.bufferId ?? prev?.bufferId ?? '' };
    if (!force && prev) {
      const batchCreated = mark.batchSeq > prev.batchSeq;
      const advanced = JSON.stringify(mark) !== JSON.stringify(prev);
      if (!batchCreated && !(advanced && this.elapsed.now() - this.writtenAt >= MARKER_EVERY_MS)) return;
    }
    try {
      this.syncBuffer();
      writeMarker(this.opts.dataDir, mark, this.wall.now());
    } catch (error) {
      // A marker behind the buffer only detects less, never refuses a sound buffer: a disk full or read-only
      // (reported by the storage status) must not stop the pipeline. Said once per episode; retried next time.
      if (!this.writeFailing)
        this.log.warn(
          { code: errorCode(error), reason: (error as Error).message },
          'the buffer marker cannot be written: a loss of the buffer meanwhile would go undetected; retrying',
        );
      this.writeFailing = true;
      return;
    }
    if (this.writeFailing) this.log.info('the buffer marker is written again');
    this.writeFailing = false;
    this.written = mark;
    this.writtenAt = this.elapsed.now();
  }

  /** Makes every commit so far durable (WAL and database file), so that the marker never claims more. */
  private syncBuffer(): void {
    for (const f of [`${this.opts.file}-wal`, this.opts.file]) {
      let fd: number;
      try {
        fd = openSync(f, 'r');
      } catch {
        continue; // no WAL (yet, or after a TRUNCATE checkpoint)
      }
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
}
