/**
 * Batches the gateway quarantined (issue #20, docs/reliability.md "A stored batch is damaged"): each named with
 * its sequence number, its records by kind, the neighbourhood intervals and the billing accounts and periods the
 * MDMS does not have. Read on a read-only connection, beside a running gateway; a buffer from before schema 12
 * has none.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { describeLoss, quarantineReport } from '../../../gateway/buffer/quarantine-report.ts';
import { messageOf, ok, warn, type Finding } from './finding.ts';

/** The buffer schema that added quarantine (gateway/buffer/migrations.ts). */
const SCHEMA_WITH_QUARANTINE = 12;

export function checkQuarantine(file: string): Finding {
  if (!existsSync(file)) return ok('batches', 'no buffer yet');
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    if ((db.pragma('user_version', { simple: true }) as number) < SCHEMA_WITH_QUARANTINE)
      return ok('batches', 'no batch quarantined');
    const entries = quarantineReport(db);
    if (entries.length === 0) return ok('batches', 'no batch quarantined');
    return warn(
      'batches',
      `${entries.length} batch(es) quarantined, not sent to the MDMS (their readings stay in the buffer):\n` +
        entries.map(describeLoss).join('\n'),
      "see docs/reliability.md §12: find the cause (SD card, the MDMS's key), then `scripts/gateway requeue " +
        'BATCH-ID|all`; a batch with a damaged record cannot be delivered: hand what it lists to billing',
    );
  } catch (error) {
    // An unreadable buffer is the buffer check's failure: one failure, not two.
    return warn('batches', `the quarantine could not be read: ${messageOf(error)}`, 'see the buffer check');
  } finally {
    db?.close();
  }
}
