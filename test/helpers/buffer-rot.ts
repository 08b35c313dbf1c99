/**
 * SD-card rot in a stopped gateway's buffer.sqlite, as issue #20 found it: one hex digit of a ciphertext changed
 * in the file's bytes, so that SQLite's `PRAGMA integrity_check` still says ok. Edits the main database file only
 * (a stopped gateway has checkpointed its WAL; a changed WAL frame would fail the frame's own checksum instead).
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';

type Messages = Map<string, string>;

const batchMessages = (file: string): Messages => {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT batch_id, message FROM batches').all() as {
      batch_id: string;
      message: string;
    }[];
    return new Map(rows.map((r) => [r.batch_id, r.message]));
  } finally {
    db.close();
  }
};

/** Changes the hex digit at byte `at` of `file` (a→b, anything else→a); returns the old byte. */
function flip(file: string, at: number, to?: number): number {
  const bytes = readFileSync(file);
  const old = bytes[at]!;
  bytes[at] = to ?? (old === 0x61 ? 0x62 : 0x61);
  writeFileSync(file, bytes);
  return old;
}

function offsets(bytes: Buffer, needle: string): number[] {
  const found: number[] = [];
  for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1))
    found.push(at + needle.length);
  return found;
}

export function assertCheckpointed(file: string): void {
  if (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0)
    throw new Error(`${file}-wal is not empty: stop the gateway gracefully first`);
}

/**
 * Rots a ciphertext inside the stored message of a batch other than `besides`: returns that batch's id (the
 * first whose message a flip changes; stale copies in free pages are tried and put back).
 */
export function rotBatchMessage(file: string, besides: string[] = []): string {
  assertCheckpointed(file);
  const before = batchMessages(file);
  // Inside a signed envelope the body is a JSON string: its quotes are escaped.
  for (const at of offsets(readFileSync(file), '\\"ciphertext\\":\\"')) {
    const old = flip(file, at + 5);
    const after = batchMessages(file);
    const changed = [...before.keys()].filter((id) => before.get(id) !== after.get(id));
    if (changed.length === 1 && !besides.includes(changed[0]!)) return changed[0]!;
    flip(file, at + 5, old);
  }
  throw new Error('no batch with a ciphertext found in the file');
}

/** Rots a ciphertext of one record (in `outbox`) of batch `batchId`; returns the record id. */
export function rotRecordOf(file: string, batchId: string): string {
  const bodies = (): Map<string, string> => {
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT record_id, body FROM outbox WHERE batch_id = ?').all(batchId) as {
        record_id: string;
        body: string;
      }[];
      return new Map(rows.map((r) => [r.record_id, r.body]));
    } finally {
      db.close();
    }
  };
  const before = bodies();
  for (const [id, body] of before) {
    const inBody = body.indexOf('"ciphertext":"');
    if (inBody < 0) continue;
    for (const start of offsets(readFileSync(file), body.slice(0, inBody + 20))) {
      const at = start - (inBody + 20) + inBody + '"ciphertext":"'.length + 5;
      const old = flip(file, at);
      if (bodies().get(id) !== body) return id;
      flip(file, at, old);
    }
  }
  throw new Error(`no record of ${batchId} with a ciphertext found contiguous in the file`);
}

/** SQLite's own verdict on the file. */
export function integrityCheck(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}
