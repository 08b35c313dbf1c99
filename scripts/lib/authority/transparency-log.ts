/**
 * The authority's transparency log: every decision (accepted or refused, with its code) as one line of a hash
 * chain in SQLite, append-only by trigger. Line i stores its entry text and hash_i = SHA-256(hash_{i−1} "\n"
 * entry_i), hash_{−1} = 64 zeros, so anyone given the file (or its rows) can check that no line was changed,
 * dropped or inserted since: `scripts/authority log --verify`. An entry names records, gateways and digests, never
 * a plaintext (there is none at the authority) nor a partial decryption.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { openDatabase, type Db } from '../../../gateway/buffer/database.ts';
import { GatewayError } from '../../../gateway/errors.ts';

export const AUTHORITY_MIGRATIONS = [
  `
  CREATE TABLE decisions (
    idx   INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    hash  TEXT NOT NULL
  );
  CREATE TRIGGER decisions_append_only_update BEFORE UPDATE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
  CREATE TRIGGER decisions_append_only_delete BEFORE DELETE ON decisions
    BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
  -- What was co-decrypted, per gateway and record id: the same id with other content is refused.
  CREATE TABLE released (
    gateway        TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    PRIMARY KEY (gateway, record_id)
  );
  `,
];

export const GENESIS = '0'.repeat(64);

export const Decision = z
  .object({
    at: z.string(),
    request: z.string(),
    /** Fingerprint of the key that signed the request. */
    requester: z.string(),
    gateway: z.string(),
    batchId: z.string().nullable(),
    batchDigest: z.string().nullable(),
    record: z.string(),
    kind: z.string().nullable(),
    /** SHA-256 of the record's JSON as the gateway signed it. */
    contentDigest: z.string().nullable(),
    decision: z.enum(['accepted', 'refused']),
    code: z.string().nullable(),
  })
  .strict();
export type Decision = z.infer<typeof Decision>;

export const chainHash = (prev: string, entry: string): string =>
  createHash('sha256').update(`${prev}\n${entry}`, 'utf8').digest('hex');

export function openAuthorityDb(file: string): Db {
  return openDatabase(file, { synchronous: 'FULL' }, AUTHORITY_MIGRATIONS);
}

export class TransparencyLog {
  constructor(readonly db: Db) {}

  /** Appends decisions; the caller runs it in the transaction that also marks what was released. */
  append(decisions: readonly Decision[]): void {
    const last = this.db.prepare('SELECT idx, hash FROM decisions ORDER BY idx DESC LIMIT 1').get() as
      { idx: number; hash: string } | undefined;
    let idx = last ? last.idx + 1 : 0;
    let prev = last?.hash ?? GENESIS;
    const insert = this.db.prepare('INSERT INTO decisions (idx, entry, hash) VALUES (?, ?, ?)');
    for (const d of decisions) {
      const entry = JSON.stringify(Decision.parse(d));
      prev = chainHash(prev, entry);
      insert.run(idx++, entry, prev);
    }
  }

  releasedDigest(gateway: string, record: string): string | undefined {
    const row = this.db
      .prepare('SELECT content_digest FROM released WHERE gateway = ? AND record_id = ?')
      .get(gateway, record) as { content_digest: string } | undefined;
    return row?.content_digest;
  }

  markReleased(gateway: string, record: string, contentDigest: string): void {
    this.db
      .prepare('INSERT OR IGNORE INTO released (gateway, record_id, content_digest) VALUES (?, ?, ?)')
      .run(gateway, record, contentDigest);
  }
}

/**
 * Verifies the whole chain and returns its decisions, oldest first. A line whose hash, predecessor, index or
 * entry does not check: TRANSPARENCY_LOG_INVALID naming the line.
 */
export function verifyTransparencyLog(
  rows: readonly { idx: number; entry: string; hash: string }[],
): Decision[] {
  let prev = GENESIS;
  return rows.map((row, i) => {
    if (row.idx !== i) {
      throw new GatewayError('TRANSPARENCY_LOG_INVALID', `line ${i}: index ${row.idx} (a line is missing)`);
    }
    if (chainHash(prev, row.entry) !== row.hash) {
      throw new GatewayError(
        'TRANSPARENCY_LOG_INVALID',
        `line ${i}: hash does not chain (changed or reordered)`,
      );
    }
    prev = row.hash;
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.entry);
    } catch {
      throw new GatewayError('TRANSPARENCY_LOG_INVALID', `line ${i}: entry is not JSON`);
    }
    const decision = Decision.safeParse(parsed);
    if (!decision.success) throw new GatewayError('TRANSPARENCY_LOG_INVALID', `line ${i}: not a decision`);
    return decision.data;
  });
}

export function readLogRows(db: Db): { idx: number; entry: string; hash: string }[] {
  return db.prepare('SELECT idx, entry, hash FROM decisions ORDER BY idx').all() as {
    idx: number;
    entry: string;
    hash: string;
  }[];
}
