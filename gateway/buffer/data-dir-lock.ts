/**
 * One gateway per data directory (issue #20): two gateways on one buffer share out batch numbers, disconnect each
 * other (one MQTT client id) and refuse each other's readings as duplicates.
 *
 * The lock is an OS-level lock, not a PID file: `gateway.lock` is a tiny SQLite database opened with
 * `locking_mode = EXCLUSIVE` and written once, so that SQLite holds an exclusive fcntl(2) lock on it until the
 * connection closes. The kernel releases such a lock when the process ends however it ends (SIGKILL, OOM, power
 * cut), so no stale lock is ever left, and a PID reused by another process cannot fake a holder (a PID file with
 * stale-PID detection gets both wrong). SQLite also coordinates connections inside one process, so a second
 * gateway in the same process is refused too. `gateway.pid` beside it is only there to name the holder in the
 * refusal; it is never trusted as the lock. The buffer itself is not opened exclusively: the doctor reads it
 * beside a running gateway (WAL, read-only connection).
 */
import Database from 'better-sqlite3';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errorCode, GatewayError } from '../errors.ts';
import { isStorageFailure, storageHint } from '../observe/storage-status.ts';
import { privateDir, privateFile, PRIVATE_FILE_MODE } from './private-files.ts';

export const LOCK_FILE = 'gateway.lock';
export const PID_FILE = 'gateway.pid';

/** How long a start waits for the lock: long enough to outlast the doctor's momentary probe, no longer. */
const WAIT_MS = 2000;

const isBusy = (error: unknown) => /^SQLITE_(?:BUSY|LOCKED)/.test(errorCode(error));

/** The PID written by the holder, if readable (only to name it in a message). */
function holderPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dir, PID_FILE), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const holderText = (pid: number | undefined) =>
  pid === undefined ? 'another process' : `the gateway with PID ${pid}`;

export class DataDirLock {
  private constructor(
    private readonly dir: string,
    private db: Database.Database | undefined,
  ) {}

  /**
   * Takes the lock of `dir` or refuses with DATA_DIR_LOCKED naming the holder. Taken right after the buffer is
   * opened (which reports a full or read-only directory with its own hint) and before anything else reads it.
   */
  static acquire(dir: string): DataDirLock {
    const file = path.join(dir, LOCK_FILE);
    let db: Database.Database;
    try {
      privateDir(dir);
      privateFile(file);
      db = new Database(file);
    } catch (cause) {
      throw new GatewayError('STORAGE_FAILED', `cannot create ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
    try {
      db.pragma(`busy_timeout = ${WAIT_MS}`);
      // No journal file beside it (OFF is refused in better-sqlite3's defensive mode; MEMORY keeps it in memory):
      // the content does not matter, the lock does.
      db.pragma('journal_mode = MEMORY');
      db.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock, and locking_mode EXCLUSIVE keeps it until close().
      db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT');
    } catch (error) {
      db.close();
      if (isStorageFailure(error)) {
        const code = errorCode(error);
        throw new GatewayError(
          'STORAGE_FAILED',
          `cannot write ${file} (${code}): ${storageHint(code, dir)}`,
          {
            cause: error,
          },
        );
      }
      if (!isBusy(error)) throw error;
      throw new GatewayError(
        'DATA_DIR_LOCKED',
        `${dir} is in use by ${holderText(holderPid(dir))}: one gateway per data directory; stop that one first ` +
          '(systemctl stop meterspace), or give this one its own gateway.dataDir',
      );
    }
    writeFileSync(path.join(dir, PID_FILE), `${process.pid}\n`, { mode: PRIVATE_FILE_MODE });
    return new DataDirLock(dir, db);
  }

  /** Releases the lock (the kernel would at exit anyway); removes the PID file if it still names this process. */
  release(): void {
    if (!this.db) return;
    if (holderPid(this.dir) === process.pid) {
      try {
        unlinkSync(path.join(this.dir, PID_FILE));
      } catch {
        // Gone already, or a read-only file system: it names no holder once the lock is free.
      }
    }
    this.db.close();
    this.db = undefined;
  }
}

/**
 * Whether a process holds the lock of `dir` now, without taking it for longer than one read (the doctor, beside
 * a running gateway): undefined when free or never taken, else the holder's PID if known (0 when unknown).
 */
export function lockHolder(dir: string): number | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(path.join(dir, LOCK_FILE), { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 0');
    db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
    return undefined;
  } catch (error) {
    return isBusy(error) ? (holderPid(dir) ?? 0) : undefined;
  } finally {
    db?.close();
  }
}
