/** Enrolled households per meter and the highest request sequence number seen per meter (SQLite). */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../buffer/database.ts';
import type { CustomerPublicKeys } from './customer-key.ts';

export interface EnrolledCustomer {
  meterId: string;
  keys: CustomerPublicKeys;
  pseudonym: string;
  /** The enrolment code (its public key) this household enrolled with, or inherited by re-keying. */
  codeKey: string;
  enrolledAt: number;
}

interface Row {
  meter_id: string;
  sealing: string;
  signing: string;
  pseudonym: string;
  code_key: string;
  enrolled_at: number;
}

const toCustomer = (r: Row): EnrolledCustomer => ({
  meterId: r.meter_id,
  keys: { sealing: r.sealing, signing: r.signing },
  pseudonym: r.pseudonym,
  codeKey: r.code_key,
  enrolledAt: r.enrolled_at,
});

export class CustomerStore {
  private readonly getStmt: Statement<[string], Row>;
  private readonly allStmt: Statement<[], Row>;
  private readonly putStmt: Statement<[string, string, string, string, string, number]>;
  private readonly revokeStmt: Statement<[string]>;
  private readonly seqResetStmt: Statement<[string]>;
  private readonly seqGet: Statement<[string], { last_seq: number }>;
  private readonly seqSet: Statement<[string, number]>;

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare('SELECT * FROM customers WHERE meter_id = ?');
    this.allStmt = db.prepare('SELECT * FROM customers ORDER BY meter_id');
    this.putStmt = db.prepare(
      `INSERT INTO customers (meter_id, sealing, signing, pseudonym, code_key, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (meter_id) DO UPDATE SET sealing = excluded.sealing, signing = excluded.signing,
         pseudonym = excluded.pseudonym, code_key = excluded.code_key, enrolled_at = excluded.enrolled_at`,
    );
    this.revokeStmt = db.prepare('DELETE FROM customers WHERE meter_id = ?');
    this.seqResetStmt = db.prepare('DELETE FROM customer_seq WHERE meter_id = ?');
    this.seqGet = db.prepare('SELECT last_seq FROM customer_seq WHERE meter_id = ?');
    this.seqSet = db.prepare(
      `INSERT INTO customer_seq (meter_id, last_seq) VALUES (?, ?)
       ON CONFLICT (meter_id) DO UPDATE SET last_seq = excluded.last_seq`,
    );
  }

  get(meterId: string): EnrolledCustomer | undefined {
    const r = this.getStmt.get(meterId);
    return r && toCustomer(r);
  }

  all(): EnrolledCustomer[] {
    return this.allStmt.all().map(toCustomer);
  }

  lastSeq(meterId: string): number {
    return this.seqGet.get(meterId)?.last_seq ?? 0;
  }

  /** Records an enrolment and its sequence number, atomically. */
  enrol(c: EnrolledCustomer, seq: number): void {
    this.db.transaction(() => {
      this.putStmt.run(c.meterId, c.keys.sealing, c.keys.signing, c.pseudonym, c.codeKey, c.enrolledAt);
      this.seqSet.run(c.meterId, seq);
    })();
  }

  /** Un-enrols a meter's household and forgets its sequence numbers (a new enrolment code was issued). */
  revoke(meterId: string): void {
    this.db.transaction(() => {
      this.revokeStmt.run(meterId);
      this.seqResetStmt.run(meterId);
    })();
  }

  /** Records the sequence number of a request that changed nothing else (so it cannot be replayed). */
  noteSeq(meterId: string, seq: number): void {
    this.seqSet.run(meterId, seq);
  }
}
