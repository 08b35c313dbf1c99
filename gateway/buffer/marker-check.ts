/**
 * The start's comparison of the buffer with its marker (marker.ts), and what `--accept-data-loss` does.
 *
 * Refused (BUFFER_BEHIND_MARKER, exit 3) with what is missing: a buffer of another identity, or none (replaced,
 * zero-length, restored from elsewhere), or one behind the marker (its WAL lost, an old copy). A first start (no
 * marker, empty buffer) is normal; a buffer with data and no marker (a gateway from before markers, or the marker
 * deleted) is taken as it is, with a warning, and gets a marker.
 *
 * Accepting the loss continues *after* what was lost rather than repeating it: the batch sequence resumes after
 * the marker's (a batch id reused with other content would be refused or, worse, deduplicated away at the MDMS),
 * the data clock's high-water mark is raised to the marker's, every group the lost buffer had decided and that is
 * undecided here is recorded as suppressed with its readings deleted (and any reading of those intervals that
 * arrives again is late), and every billing period it had closed and that is open here is withheld (readings of
 * those periods arriving again are billed in the current period, as the raised high-water mark makes them): a second release of a group or bill with other content would reveal the
 * difference (privacy invariant 2, docs/privacy.md).
 */
import { GatewayError } from '../errors.ts';
import { isoUtc } from '../time/zoned.ts';
import type { RevealMode } from './billing-store.ts';
import type { BufferStore } from './buffer.ts';
import { BUFFER_ID_KEY, isFresh, type BufferMark, type Marker } from './marker.ts';
import { DECIDED_FLOOR_KEY } from './readings-store.ts';
import { HIGH_WATER_KEY } from './state-store.ts';

/** Where the last accepted loss is recorded in the buffer (shown in the health message). */
export const DATA_LOSS_KEY = 'buffer.data_loss_accepted';

export type MarkerVerdict =
  { kind: 'first-start' } | { kind: 'no-marker' } | { kind: 'in-step' } | { kind: 'behind'; missing: string };

const at = (ms: number | null) => (ms === null ? 'never' : isoUtc(ms));

/** What the marker says is missing from `mark`, in one sentence; undefined when the buffer is not behind. */
export function missingFrom(mark: BufferMark, marker: Marker): string | undefined {
  const firstLost = (from: number) => Math.max(from, marker.ackedThrough) + 1;
  const batches = (from: number) =>
    firstLost(from) <= marker.batchSeq
      ? `unacknowledged batches ${firstLost(from)}..${marker.batchSeq}`
      : 'no unacknowledged batch';
  if (mark.bufferId !== marker.bufferId) {
    const what =
      mark.bufferId === null
        ? 'a buffer without identity (new, emptied or replaced)'
        : `buffer ${mark.bufferId}`;
    return (
      `the data directory's marker (written ${marker.writtenAt}) describes buffer ${marker.bufferId}, this is ${what}: ` +
      `missing are ${batches(0)}, the records not yet batched, the readings stored up to interval ` +
      `${at(marker.lastInterval)} and the open bills`
    );
  }
  const behind =
    mark.batchSeq < marker.batchSeq ||
    (mark.highWater ?? -Infinity) < (marker.highWater ?? -Infinity) ||
    (mark.lastInterval ?? -Infinity) < (marker.lastInterval ?? -Infinity);
  if (!behind) return undefined;
  const parts = [`${batches(mark.batchSeq)} (the buffer has batches up to ${mark.batchSeq})`];
  if ((mark.lastInterval ?? -Infinity) < (marker.lastInterval ?? -Infinity))
    parts.push(`readings of intervals after ${at(mark.lastInterval)} up to ${at(marker.lastInterval)}`);
  if ((mark.highWater ?? -Infinity) < (marker.highWater ?? -Infinity))
    parts.push(`what was decided or billed from data time ${at(mark.highWater)} to ${at(marker.highWater)}`);
  return (
    `the buffer is behind its marker (written ${marker.writtenAt}; lost WAL or an old copy): missing are ` +
    `${parts.slice(0, -1).join(', ')}${parts.length > 1 ? ' and ' : ''}${parts.at(-1)}`
  );
}

export function compareWithMarker(
  mark: BufferMark,
  marker: Marker | 'unreadable' | undefined,
): MarkerVerdict {
  if (marker === 'unreadable') {
    return {
      kind: 'behind',
      missing: 'the marker cannot be read, so what the buffer may be missing cannot be told',
    };
  }
  if (marker === undefined) return isFresh(mark) ? { kind: 'first-start' } : { kind: 'no-marker' };
  const missing = missingFrom(mark, marker);
  return missing === undefined ? { kind: 'in-step' } : { kind: 'behind', missing };
}

export function behindMarker(file: string, missing: string): GatewayError {
  return new GatewayError(
    'BUFFER_BEHIND_MARKER',
    `${file}: ${missing}. Keep a copy of the data directory; if the files cannot be brought back, start once ` +
      'with --accept-data-loss (docs/reliability.md, "A buffer behind its marker")',
  );
}

/**
 * Continues after what the marker says was done (see the file's comment); returns the decided groups and
 * withheld periods it closed. One transaction, apart from folding the queued bill ciphertexts first.
 */
export function acceptLoss(
  buffer: BufferStore,
  marker: Marker | undefined,
  missing: string,
  reveal: RevealMode,
  now: number,
): { groups: number; periods: number } {
  buffer.foldBills(reveal);
  return buffer.db.transaction(() => {
    let groups = 0;
    let periods = 0;
    if (marker) {
      const seq = Number(buffer.state.get('batch.seq') ?? '0');
      if (seq < marker.batchSeq) buffer.state.set('batch.seq', String(marker.batchSeq));
      if (marker.highWater !== null) buffer.state.raise(HIGH_WATER_KEY, marker.highWater);
      if (marker.decidedThrough !== null) {
        // Readings of these groups that arrive again (a replay resuming from an older cursor) are late.
        buffer.state.raise(DECIDED_FLOOR_KEY, marker.decidedThrough);
        buffer.readings.raiseDecidedFloor(marker.decidedThrough);
        for (const group of buffer.readings.due(marker.decidedThrough)) {
          buffer.readings.decide(group, 'suppressed', now);
          buffer.readings.deleteGroup(group);
          groups++;
        }
      }
      if (marker.closedThrough !== null) periods = withholdClosed(buffer, marker.closedThrough, now);
    }
    buffer.state.set(DATA_LOSS_KEY, JSON.stringify({ at: isoUtc(now), missing: missing.slice(0, 2000) }));
    return { groups, periods };
  })();
}

/** Open billing periods that ended by `closedThrough`: the lost buffer had released their bills. */
function withholdClosed(buffer: BufferStore, closedThrough: number, now: number): number {
  const rows = buffer.db
    .prepare('SELECT account, period_start FROM billing_periods WHERE closed = 0 AND period_end <= ?')
    .all(closedThrough) as { account: string; period_start: number }[];
  for (const r of rows) {
    buffer.billing.delete(r.account, r.period_start);
    buffer.withheld.add({ account: r.account, periodStart: r.period_start }, now, 'data loss accepted');
  }
  buffer.withheld.noteCommitted(rows.map((r) => ({ account: r.account, periodStart: r.period_start })));
  return rows.length;
}

/** The last accepted loss recorded in the buffer, or null. */
export function lastAcceptedLoss(buffer: BufferStore): { at: string; missing: string } | null {
  const text = buffer.state.get(DATA_LOSS_KEY);
  if (!text) return null;
  try {
    return JSON.parse(text) as { at: string; missing: string };
  } catch {
    return null;
  }
}

/** Gives a buffer without identity a new random one. */
export function ensureIdentity(buffer: BufferStore, newId: () => string): string {
  const id = buffer.state.get(BUFFER_ID_KEY);
  if (id) return id;
  const fresh = newId();
  buffer.state.set(BUFFER_ID_KEY, fresh);
  return fresh;
}
