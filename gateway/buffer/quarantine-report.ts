/**
 * What a quarantined batch holds, for the operator (the error log at quarantine, `scripts/gateway --doctor`):
 * its sequence number, its records by kind, the neighbourhood intervals and the billing accounts and periods the
 * MDMS will not receive until someone acts. Plain SELECTs, so that the doctor can run it on a read-only
 * connection beside a running gateway. Names and instants only: a record's ciphertext is never read here.
 */
import type { Db } from './database.ts';

export interface QuarantineEntry {
  batchId: string;
  seq: number;
  /** When it was quarantined (elapsed clock of the gateway that did it, epoch ms). */
  at: number;
  code: string;
  reason: string;
  /** Records by kind, e.g. `{ bill: 2, aggregate: 6 }`. */
  kinds: Record<string, number>;
  /** `<neighbourhood>@<interval start ISO>` of its aggregate and suppression records. */
  intervals: string[];
  /** `<account>@<period start ISO>` of its bills. */
  bills: string[];
}

interface Row {
  batch_id: string;
  seq: number;
  at: number;
  code: string | null;
  reason: string | null;
}

interface RecordRow {
  kind: string;
  group_nb: string | null;
  group_start: number | null;
  account: string | null;
  period_start: number | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function quarantineReport(db: Db): QuarantineEntry[] {
  const batches = db
    .prepare(
      `SELECT batch_id, seq, quarantined_at AS at, quarantine_code AS code, quarantine_reason AS reason
       FROM batches WHERE quarantined_at IS NOT NULL ORDER BY seq`,
    )
    .all() as Row[];
  const records = db.prepare(
    'SELECT kind, group_nb, group_start, account, period_start FROM outbox WHERE batch_id = ? ORDER BY record_id',
  );
  return batches.map((b) => {
    const kinds: Record<string, number> = {};
    const intervals: string[] = [];
    const bills: string[] = [];
    for (const r of records.all(b.batch_id) as RecordRow[]) {
      kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
      if (r.group_nb !== null && r.group_start !== null)
        intervals.push(`${r.group_nb}@${iso(r.group_start)}`);
      if (r.account !== null && r.period_start !== null) bills.push(`${r.account}@${iso(r.period_start)}`);
    }
    return {
      batchId: b.batch_id,
      seq: b.seq,
      at: b.at,
      code: b.code ?? 'UNKNOWN',
      reason: b.reason ?? '',
      kinds,
      intervals,
      bills,
    };
  });
}

/** One line naming exactly what the MDMS does not have. */
export function describeLoss(e: QuarantineEntry): string {
  const kinds = Object.entries(e.kinds)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return (
    `batch ${e.batchId} (seq ${e.seq}, ${e.code}: ${e.reason}): ${kinds || 'no records left'}` +
    (e.intervals.length > 0 ? `; intervals ${e.intervals.join(' ')}` : '') +
    (e.bills.length > 0 ? `; bills ${e.bills.join(' ')}` : '')
  );
}
