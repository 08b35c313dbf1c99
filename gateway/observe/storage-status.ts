/**
 * Whether the buffer can be written (docs/buffer.md, "When writes fail"): a disk full or a file system gone
 * read-only fails every SQLite write with SQLITE_FULL, SQLITE_READONLY* or SQLITE_IOERR*. The gateway keeps
 * running through it; this says so once per episode in the log (the cause and what to do), counts each failure
 * (`storage.failed.<CODE>`) and shows the episode in the health message and the Prometheus endpoint.
 */
import { errorCode } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

/** SQLite's codes (and their extended forms) for a write the storage under it refused. */
const STORAGE_CODE = /^SQLITE_(?:FULL|READONLY|IOERR|CANTOPEN)(?:_[A-Z_]+)?$/;

/** True for an error of the storage under the database, not of the operation (a duplicate, say). */
export function isStorageFailure(error: unknown): boolean {
  return STORAGE_CODE.test(errorCode(error));
}

/** What the health message shows of the storage (docs/protocol.md §8a). */
export interface StorageHealth {
  /** False from a failed write until a write succeeds again. */
  writable: boolean;
  /** The code of the last failed write, kept after recovery; null if none since the start. */
  lastErrorCode: string | null;
  /** When the current episode began (wall clock); null while writable. */
  failingSince: string | null;
  /** Ciphertexts of readings waiting in memory for the buffer to take writes again. */
  unstoredReadings: number;
  /** True from the first statement that found the buffer corrupt until a restart on a recovered file. */
  corrupt: boolean;
  /** The last start that accepted a buffer behind its marker (--accept-data-loss), if any. */
  dataLossAccepted?: { at: string; missing: string } | null;
}

/** What a failed write with SQLite's `code` means under `dataDir`, and what to do. */
export function storageHint(code: string, dataDir: string): string {
  if (code.startsWith('SQLITE_FULL'))
    return `the file system of ${dataDir} is full: free space there (old logs, core dumps)`;
  if (code.startsWith('SQLITE_READONLY'))
    return `${dataDir} is read-only (the kernel remounts a file system read-only after I/O errors): check dmesg, fsck the card, restart`;
  return `writing under ${dataDir} fails with I/O errors (a failing SD card, or its file system gone read-only after errors): check dmesg, fsck or replace the card, restart`;
}

export class StorageStatus {
  private failing: { code: string; since: number } | undefined;
  private lastCode: string | null = null;
  private failures = 0;
  private corruptSince: number | undefined;
  private dataLoss: { at: string; missing: string } | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly wall: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** How many ciphertexts wait in memory (Intake.unstoredCount). */
    private readonly unstored: () => number = () => 0,
  ) {}

  /** False while writes fail, and for good once the buffer was found corrupt. */
  get writable(): boolean {
    return this.failing === undefined && this.corruptSince === undefined;
  }

  /**
   * A statement found the buffer corrupt (buffer/corruption.ts, told once per run): logged once at error with what
   * to do, counted, and shown for the rest of the run; acknowledgements and drops delete nothing meanwhile.
   */
  corrupted(error: unknown): void {
    const code = errorCode(error);
    this.metrics.inc(`storage.corrupt.${code}`);
    this.lastCode = code;
    this.corruptSince = this.wall.now();
    this.log.error(
      { code, dataDir: this.dataDir, reason: (error as Error).message },
      'the buffer is corrupt: nothing more is deleted from it (acknowledged batches stay, limits drop nothing); ' +
        'readings are still stored where SQLite can; stop the gateway and recover the buffer ' +
        '(docs/buffer.md, "Recovering a corrupt buffer")',
    );
  }

  /** The last accepted data loss (kept in the buffer), for the health message. */
  setDataLossAccepted(record: { at: string; missing: string } | null): void {
    this.dataLoss = record;
  }

  /** A write failed; the first failure of an episode is logged with its cause and what to do. */
  failed(error: unknown): void {
    const code = errorCode(error);
    this.metrics.inc(`storage.failed.${code}`);
    this.lastCode = code;
    this.failures++;
    if (this.failing) return;
    this.failing = { code, since: this.wall.now() };
    this.log.error(
      { code, dataDir: this.dataDir, reason: (error as Error).message },
      `cannot write the buffer: ${storageHint(code, this.dataDir)}; the gateway keeps running, holds new readings' ` +
        'ciphertexts in memory (buffer.maxUnstoredReadings) and writes them when writes succeed again',
    );
  }

  /** A write succeeded: ends an episode of failed writes, if one is on (not a corruption). */
  succeeded(): void {
    if (!this.failing) return;
    const seconds = Math.round((this.wall.now() - this.failing.since) / 1000);
    this.log.warn(
      { code: this.failing.code, seconds, failedWrites: this.failures, unstored: this.unstored() },
      'the buffer takes writes again',
    );
    this.failing = undefined;
    this.failures = 0;
  }

  snapshot(): StorageHealth {
    return {
      writable: this.writable,
      lastErrorCode: this.lastCode,
      failingSince: this.failing
        ? isoUtc(this.failing.since)
        : this.corruptSince !== undefined
          ? isoUtc(this.corruptSince)
          : null,
      unstoredReadings: this.unstored(),
      corrupt: this.corruptSince !== undefined,
      dataLossAccepted: this.dataLoss,
    };
  }
}
