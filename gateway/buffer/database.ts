/**
 * Opens the SQLite buffer in better-sqlite3's idiom: WAL, a chosen `synchronous`, migrations by user_version.
 *
 * `synchronous = NORMAL` in WAL mode never corrupts the database; a power cut may lose the transactions since the
 * last checkpoint, which the gateway tolerates (readings are re-read or counted missing; batches are re-sent) and
 * which spares the SD card an fsync per reading. `FULL` is there for whoever prefers the other trade-off.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { errorCode, GatewayError } from '../errors.ts';
import { isStorageFailure, storageHint } from '../observe/storage-status.ts';
import { bufferCorrupt, isCorruption } from './corruption.ts';
import { MIGRATIONS } from './migrations.ts';
import { privateDatabase } from './private-files.ts';

export type Db = Database.Database;

export interface OpenOptions {
  synchronous: 'NORMAL' | 'FULL';
  /** WAL pages (4 KiB) between automatic checkpoints (SQLite's own default is 1000; buffer.walCheckpointPages). */
  walCheckpointPages?: number;
  /** Told the paths found group- or world-accessible (and tightened to 0700/0600) before opening, to warn. */
  onLoosePaths?: (paths: string[]) => void;
}

export function openDatabase(file: string, opts: OpenOptions, migrations = MIGRATIONS): Db {
  let db: Db;
  try {
    const loose = privateDatabase(file);
    if (loose.length > 0) opts.onLoosePaths?.(loose);
    db = new Database(file);
  } catch (cause) {
    throw new GatewayError('STORAGE_FAILED', `cannot open database ${file}`, { cause });
  }
  try {
    configure(db, opts, migrations, file);
  } catch (cause) {
    db.close();
    // A file that is not a database, or a damaged one: one line and the recovery steps (issue #20).
    if (isCorruption(cause)) throw bufferCorrupt(file, cause);
    // A full or read-only data directory at start: say which, and what to do (the service manager restarts).
    if (!isStorageFailure(cause)) throw cause;
    const code = errorCode(cause);
    throw new GatewayError(
      'STORAGE_FAILED',
      `cannot write ${file} (${code}): ${storageHint(code, path.dirname(file))}`,
      {
        cause,
      },
    );
  }
  return db;
}

function configure(db: Db, opts: OpenOptions, migrations: readonly string[], file: string): void {
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous}`);
  // Fewer checkpoints write each page that changes again and again (totals, cursors) back to the file fewer
  // times; the WAL file is cut back to twice the checkpoint size after one, so it never keeps growing.
  const pages = opts.walCheckpointPages ?? 4000;
  db.pragma(`wal_autocheckpoint = ${pages}`);
  db.pragma(`journal_size_limit = ${pages * 2 * 4096}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations, file);
  // A write at start, so that a full or read-only data directory stops the start with a clear error rather than
  // failing each write later (SQLite opens a read-only file for reading without a word).
  db.pragma(`user_version = ${db.pragma('user_version', { simple: true }) as number}`);
}

function migrate(db: Db, migrations: readonly string[], file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new GatewayError(
      'STORAGE_FAILED',
      `${file} has schema version ${current}, newer than this gateway knows (${migrations.length}); upgrade the gateway`,
    );
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
