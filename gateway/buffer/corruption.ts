/**
 * A corrupt buffer (issue #20): SQLite reports a damaged file with SQLITE_CORRUPT (a page that does not parse)
 * or SQLITE_NOTADB (no SQLite header at all). SD cards rot, so this is met in the field and must not end in a
 * stack trace. At start it refuses the start with one line and the recovery steps (docs/buffer.md, "Recovering a
 * corrupt buffer"); while running, `CorruptionWatch` records it once so that the health, the metrics and the
 * doctor say so and nothing more is deleted from a file that may already be missing what it would keep.
 */
import { errorCode, GatewayError } from '../errors.ts';

/** SQLite's codes, and their extended forms, for a file whose content cannot be trusted. */
const CORRUPT_CODE = /^SQLITE_(?:CORRUPT|NOTADB)(?:_[A-Z_]+)?$/;

export function isCorruption(error: unknown): boolean {
  return CORRUPT_CODE.test(errorCode(error));
}

/** The start refused on a corrupt buffer: one line, the code, the recovery steps (exit EXIT_NEEDS_OPERATOR). */
export function bufferCorrupt(file: string, cause: unknown): GatewayError {
  return new GatewayError(
    'BUFFER_CORRUPT',
    `${file} is corrupt (${errorCode(cause)}: ${(cause as Error).message}): stop here and recover it: keep a copy ` +
      `of its directory, salvage with sqlite3 ${file} ".recover" | sqlite3 ${file}.recovered, move the ` +
      `recovered file in its place, then start with --accept-data-loss (docs/buffer.md, "Recovering a corrupt buffer")`,
    { cause },
  );
}

/** Told once, when the first corruption of a run is found (the storage status logs it and shows it). */
export type CorruptionListener = (error: unknown) => void;

/**
 * Remembers that a statement found the buffer corrupt, for the rest of the run: a corrupt page does not heal,
 * and only an operator's salvage (and a restart) makes the file trustworthy again.
 */
export class CorruptionWatch {
  private found: { code: string } | undefined;
  private readonly listeners: CorruptionListener[] = [];

  get corrupt(): boolean {
    return this.found !== undefined;
  }

  onCorruption(listener: CorruptionListener): void {
    this.listeners.push(listener);
  }

  /** Notes `error` if it is a corruption; returns whether it was. Listeners hear of the first one only. */
  note(error: unknown): boolean {
    if (!isCorruption(error)) return false;
    if (this.found) return true;
    this.found = { code: errorCode(error) };
    for (const listener of this.listeners) listener(error);
    return true;
  }

  /** Throws while the buffer is corrupt: deleting from it could remove what a salvage would keep. */
  assertMayDelete(what: string): void {
    if (!this.found) return;
    throw new GatewayError(
      'BUFFER_CORRUPT',
      `${what} not applied: the buffer is corrupt (${this.found.code}) and nothing is deleted from it until it is recovered`,
    );
  }

  /**
   * Reads figures for the health or the metrics, or returns `last` when the read meets a corrupt page (noted):
   * they are what tells the operator that the buffer is corrupt, so they must still answer. Other errors are
   * thrown on.
   */
  orLast<T>(read: () => T, last: T): T {
    try {
      return read();
    } catch (error) {
      if (!this.note(error)) throw error;
      return last;
    }
  }

  /** Runs `work`; a corruption it throws is noted, then thrown on. */
  guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      this.note(error);
      throw error;
    }
  }
}
