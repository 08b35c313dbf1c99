/**
 * `scripts/gateway requeue <batch-id>|all`, on site (issue #20, docs/reliability.md §12): puts quarantined
 * batches back into the send queue once their cause is fixed (the MDMS given the right key, say). The batch is
 * verified again before it is sent (batch-repair.ts) and may be rebuilt once more. Safe beside a running gateway:
 * it reads the quarantine from the buffer at every send.
 */
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { openDatabase } from '../buffer/database.ts';
import { describeLoss, quarantineReport } from '../buffer/quarantine-report.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';

/** Re-queues `which` (a batch id, or every quarantined batch for "all"); returns what was re-queued. */
export function requeueQuarantined(config: Readonly<Config>, which: string, log: Logger): string[] {
  const db = openDatabase(path.join(config.gateway.dataDir, config.buffer.file), {
    synchronous: config.buffer.synchronous,
  });
  try {
    const chosen = quarantineReport(db).filter((e) => which === 'all' || e.batchId === which);
    if (chosen.length === 0 && which !== 'all')
      throw new GatewayError('CONFIG_INVALID', `no quarantined batch "${which}" in this gateway's buffer`);
    const requeue = db.prepare(
      `UPDATE batches SET quarantined_at = NULL, quarantine_code = NULL, quarantine_reason = NULL, rebuilds = 0,
       next_attempt_at = 0 WHERE batch_id = ?`,
    );
    db.transaction(() => chosen.forEach((e) => requeue.run(e.batchId)))();
    for (const e of chosen)
      log.warn({ batchId: e.batchId, seq: e.seq }, `batch re-queued: ${describeLoss(e)}`);
    return chosen.map((e) => e.batchId);
  } finally {
    db.close();
  }
}
