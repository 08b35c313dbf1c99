/** The reference MDMS's own SQLite file: what it received, decrypted, exactly once per record. */
import { openDatabase, type Db } from '../../../gateway/buffer/database.ts';

export const MDMS_MIGRATIONS = [
  `
  -- A batch is identified by its gateway, id and body digest: an id that comes back with other content (a
  -- gateway whose buffer was replaced or rolled back) is new content, not a duplicate.
  CREATE TABLE batches (
    gateway     TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, batch_id, body_digest)
  );
  -- Record ids are unique per gateway.
  CREATE TABLE aggregates (
    record_id      TEXT NOT NULL,
    gateway        TEXT NOT NULL,
    neighbourhood  TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end   TEXT NOT NULL,
    meters         INTEGER NOT NULL,
    k              INTEGER NOT NULL,
    total_wh       INTEGER NOT NULL,
    bands          TEXT NOT NULL,
    PRIMARY KEY (gateway, record_id)
  );
  CREATE TABLE suppressed (
    record_id      TEXT NOT NULL,
    gateway        TEXT NOT NULL,
    neighbourhood  TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end   TEXT NOT NULL,
    k              INTEGER NOT NULL,
    PRIMARY KEY (gateway, record_id)
  );
  CREATE TABLE bills (
    record_id    TEXT NOT NULL,
    gateway      TEXT NOT NULL,
    account      TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    intervals    INTEGER NOT NULL,
    total_wh     INTEGER NOT NULL,
    bands        TEXT NOT NULL,
    PRIMARY KEY (gateway, record_id)
  );
  `,
  `
  -- Cost-only bills (billing.reveal: cost-only at the gateway): only the amount due is known, no Wh.
  CREATE TABLE bills_v2 (
    record_id    TEXT NOT NULL,
    gateway      TEXT NOT NULL,
    account      TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    intervals    INTEGER NOT NULL,
    reveal       TEXT NOT NULL DEFAULT 'bands' CHECK (reveal IN ('bands', 'cost-only')),
    total_wh     INTEGER,
    bands        TEXT,
    amount       TEXT,
    prices       TEXT,
    CHECK ((reveal = 'bands') = (total_wh IS NOT NULL AND bands IS NOT NULL)),
    CHECK ((reveal = 'cost-only') = (amount IS NOT NULL AND prices IS NOT NULL)),
    PRIMARY KEY (gateway, record_id)
  );
  INSERT INTO bills_v2 (record_id, gateway, account, period_start, period_end, intervals, total_wh, bands)
    SELECT record_id, gateway, account, period_start, period_end, intervals, total_wh, bands FROM bills;
  DROP TABLE bills;
  ALTER TABLE bills_v2 RENAME TO bills;
  `,
  `
  -- Aggregate records v2 (issue #14): one noisy sum of clipped readings, no band slots. total_wh is that sum (it
  -- may be negative), bound95_wh the half-width of its 95 % interval and noise the record's mechanism and
  -- parameters (JSON); rows of v1 records keep their exact bands and no noise.
  CREATE TABLE aggregates_v2 (
    record_id      TEXT NOT NULL,
    gateway        TEXT NOT NULL,
    neighbourhood  TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end   TEXT NOT NULL,
    meters         INTEGER NOT NULL,
    k              INTEGER NOT NULL,
    total_wh       INTEGER NOT NULL,
    bands          TEXT,
    bound95_wh     REAL,
    noise          TEXT,
    CHECK ((noise IS NULL) = (bound95_wh IS NULL)),
    PRIMARY KEY (gateway, record_id)
  );
  INSERT INTO aggregates_v2 (record_id, gateway, neighbourhood, interval_start, interval_end, meters, k, total_wh,
                             bands)
    SELECT record_id, gateway, neighbourhood, interval_start, interval_end, meters, k, total_wh, bands
    FROM aggregates;
  DROP TABLE aggregates;
  ALTER TABLE aggregates_v2 RENAME TO aggregates;
  `,
  `
  -- Split key (docs/key-ceremony.md): a batch is stored here, as received, before it is acknowledged, and leaves
  -- only in the transaction that stores its decrypted records; state 'refused' keeps what the authority refused.
  CREATE TABLE pending (
    gateway     TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'refused')),
    last_code   TEXT,
    PRIMARY KEY (gateway, batch_id, body_digest)
  );
  `,
];

export interface AggregateRow {
  record_id: string;
  gateway: string;
  neighbourhood: string;
  interval_start: string;
  interval_end: string;
  meters: number;
  k: number;
  /** The released sum: Σ min(wh, clipWh) + noise (may be negative); exact for v1 records. */
  total_wh: number;
  /** v1 records only: JSON object band name → Wh. */
  bands: string | null;
  /** Half-width of the 95 % interval of total_wh around the clipped sum (v2 records). */
  bound95_wh: number | null;
  /** The record's noise parameters, JSON (v2 records). */
  noise: string | null;
}

export interface SuppressedRow {
  record_id: string;
  gateway: string;
  neighbourhood: string;
  interval_start: string;
  interval_end: string;
  k: number;
}

export interface BillRow {
  record_id: string;
  gateway: string;
  account: string;
  period_start: string;
  period_end: string;
  intervals: number;
  /** What the gateway revealed: band totals, or the amount due only. */
  reveal: 'bands' | 'cost-only';
  /** Bands bills only. */
  total_wh: number | null;
  /** Bands bills only: JSON object band name → Wh. */
  bands: string | null;
  /** Cost-only bills only: the amount due in currency units, an exact decimal (at most 9 decimals). */
  amount: string | null;
  /** Cost-only bills only: JSON object band name → the price per kWh the gateway applied. */
  prices: string | null;
}

export function openMdmsDb(file: string): Db {
  return openDatabase(file, { synchronous: 'FULL' }, MDMS_MIGRATIONS);
}

export class MdmsStore {
  constructor(readonly db: Db) {}

  hasBatch(gateway: string, batchId: string, bodyDigest: string): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM batches WHERE gateway = ? AND batch_id = ? AND body_digest = ?')
        .get(gateway, batchId, bodyDigest) !== undefined
    );
  }

  /** Stores a batch and its records in one transaction; records already stored are ignored (idempotent). */
  saveBatch(
    batch: { batchId: string; gateway: string; seq: number; bodyDigest: string; receivedAt: number },
    aggregates: AggregateRow[],
    suppressed: SuppressedRow[],
    bills: BillRow[],
  ): { inserted: number; duplicates: number } {
    const db = this.db;
    let inserted = 0;
    let duplicates = 0;
    const count = (changes: number) => (changes > 0 ? inserted++ : duplicates++);
    db.transaction(() => {
      db.prepare(
        'INSERT OR IGNORE INTO batches (gateway, batch_id, body_digest, seq, received_at) VALUES (?, ?, ?, ?, ?)',
      ).run(batch.gateway, batch.batchId, batch.bodyDigest, batch.seq, batch.receivedAt);
      const a = db.prepare(
        `INSERT OR IGNORE INTO aggregates VALUES
         (@record_id, @gateway, @neighbourhood, @interval_start, @interval_end, @meters, @k, @total_wh, @bands,
          @bound95_wh, @noise)`,
      );
      for (const row of aggregates) count(a.run(row).changes);
      const s = db.prepare(
        `INSERT OR IGNORE INTO suppressed VALUES
         (@record_id, @gateway, @neighbourhood, @interval_start, @interval_end, @k)`,
      );
      for (const row of suppressed) count(s.run(row).changes);
      const b = db.prepare(
        `INSERT OR IGNORE INTO bills
         (record_id, gateway, account, period_start, period_end, intervals, reveal, total_wh, bands, amount, prices)
         VALUES (@record_id, @gateway, @account, @period_start, @period_end, @intervals, @reveal, @total_wh, @bands,
                 @amount, @prices)`,
      );
      for (const row of bills) count(b.run(row).changes);
    })();
    return { inserted, duplicates };
  }

  aggregates(): AggregateRow[] {
    return this.db
      .prepare('SELECT * FROM aggregates ORDER BY interval_start, neighbourhood')
      .all() as AggregateRow[];
  }

  suppressed(): SuppressedRow[] {
    return this.db
      .prepare('SELECT * FROM suppressed ORDER BY interval_start, neighbourhood')
      .all() as SuppressedRow[];
  }

  bills(): BillRow[] {
    return this.db.prepare('SELECT * FROM bills ORDER BY period_start, account').all() as BillRow[];
  }

  counts(): { batches: number; aggregates: number; suppressed: number; bills: number } {
    const n = (t: string) => (this.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    return {
      batches: n('batches'),
      aggregates: n('aggregates'),
      suppressed: n('suppressed'),
      bills: n('bills'),
    };
  }
}
