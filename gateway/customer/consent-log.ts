/**
 * The consent log in SQLite (consent_log, append-only by trigger): one hash chain per tenancy, a meter and the
 * enrolment code its household enrolled with (protocol/consent-chain.ts has the format and the checks).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../buffer/database.ts';
import { chainEntry, GENESIS, type NewConsentEntry } from '../protocol/consent-chain.ts';
import type { ConsentLogLine } from '../protocol/customer-messages.ts';

export interface Tenancy {
  meterId: string;
  codeKey: string;
}

export class ConsentLog {
  private readonly linesStmt: Statement<[string, string], ConsentLogLine>;
  private readonly lastStmt: Statement<[string, string], { idx: number; hash: string }>;
  private readonly insertStmt: Statement<[string, string, number, string, string]>;

  constructor(private readonly db: Db) {
    this.linesStmt = db.prepare(
      'SELECT entry, hash FROM consent_log WHERE meter_id = ? AND code_key = ? ORDER BY idx',
    );
    this.lastStmt = db.prepare(
      'SELECT idx, hash FROM consent_log WHERE meter_id = ? AND code_key = ? ORDER BY idx DESC LIMIT 1',
    );
    this.insertStmt = db.prepare(
      'INSERT INTO consent_log (meter_id, code_key, idx, entry, hash) VALUES (?, ?, ?, ?, ?)',
    );
  }

  /** The tenancy's chain, oldest first. */
  lines(t: Tenancy): ConsentLogLine[] {
    return this.linesStmt.all(t.meterId, t.codeKey);
  }

  /** Appends entries to the tenancy's chain, in one transaction; returns the lines written. */
  append(t: Tenancy, at: number, entries: readonly NewConsentEntry[]): ConsentLogLine[] {
    return this.db.transaction(() => {
      const last = this.lastStmt.get(t.meterId, t.codeKey);
      let index = last ? last.idx + 1 : 0;
      let prev = last?.hash ?? GENESIS;
      const written: ConsentLogLine[] = [];
      for (const fields of entries) {
        const line = chainEntry(index, prev, new Date(at).toISOString(), fields);
        this.insertStmt.run(t.meterId, t.codeKey, index, line.entry, line.hash);
        written.push(line);
        prev = line.hash;
        index++;
      }
      return written;
    })();
  }
}
