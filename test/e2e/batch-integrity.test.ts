/**
 * Stored batches that rot (issue #20, 1), end to end: the gateway process, a real Mosquitto, the reference MDMS
 * and the real buffer.sqlite. With the broker away, batches pile up; the gateway is stopped and one hex digit of
 * a ciphertext is changed in the file's bytes (SQLite's integrity_check still ok) in two batches: in one only the
 * signed message (rebuilt from its intact records, byte for byte), in the other the message and one of its
 * records (quarantined: never sent, reported by the log, the status counters and the doctor, its records kept).
 * Everything else arrives, and the MDMS never sees a damaged batch.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { assertCheckpointed, integrityCheck, rotBatchMessage, rotRecordOf } from '../helpers/buffer-rot.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_BIN, GATEWAY_ID, waitFor } from '../helpers/scenario.ts';

const TIMEOUT_MS = 240_000;

function readOnly<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('a stored batch damaged on the SD card', { timeout: TIMEOUT_MS }, () => {
  let h: Harness | undefined;
  afterAll(async () => h?.close());

  it('is rebuilt from intact records, or quarantined and reported; never sent damaged, never re-sent forever', async () => {
    h = await startHarness({
      from: '2012-10-10T00:00:00Z',
      to: '2012-10-11T00:00:00Z',
      speed: 2400,
      // Small batches: several of them, each with a few records.
      upstream: { maxRecordsPerBatch: 10 },
    });
    const { scenario, store, broker } = h;
    const db = scenario.dbFile;
    await broker.stop();

    // Run 1: no broker; batches with ciphertexts pile up in the buffer.
    const first = h.spawn();
    await h.waitStarted();
    const withCiphertexts = () =>
      readOnly(
        db,
        (d) =>
          (
            d.prepare("SELECT COUNT(*) AS n FROM batches WHERE message LIKE '%ciphertext%'").get() as {
              n: number;
            }
          ).n,
      );
    await waitFor(() => withCiphertexts() >= 3, 120_000, 'three batches with ciphertexts');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    assertCheckpointed(db);

    const rebuilt = rotBatchMessage(db);
    const lost = rotBatchMessage(db, [rebuilt]);
    const damagedRecord = rotRecordOf(db, lost);
    expect(integrityCheck(db)).toBe('ok');
    const lostRecords = readOnly(db, (d) =>
      d.prepare('SELECT record_id FROM outbox WHERE batch_id = ?').all(lost),
    ).length;
    expect(lostRecords).toBeGreaterThan(0);
    const rebuiltDigest = readOnly(
      db,
      (d) =>
        d.prepare('SELECT body_digest AS v FROM batches WHERE batch_id = ?').get(rebuilt) as { v: string },
    ).v;

    // Run 2: the broker is back.
    await broker.restart();
    h.spawn();
    const expected =
      scenario.expected.aggregates.size + scenario.expected.suppressed.size + scenario.expected.bills.size;
    const atMdms = () => {
      const c = store.counts();
      return c.aggregates + c.suppressed + c.bills;
    };
    const batchesLeft = () =>
      readOnly(db, (d) => d.prepare('SELECT batch_id FROM batches').all()) as { batch_id: string }[];
    await waitFor(
      () => atMdms() + lostRecords === expected && batchesLeft().length === 1,
      150_000,
      'everything but the quarantined batch at the MDMS',
      () => `at MDMS ${atMdms()} + ${lostRecords} of ${expected}; batches ${JSON.stringify(batchesLeft())}`,
    );
    expect(batchesLeft()).toEqual([{ batch_id: lost }]);

    const log = h.log();
    const lines = log.split('\n').filter((l) => l.includes(lost) || l.includes(rebuilt));
    expect(
      lines.some((l) => l.includes(rebuilt) && l.includes('batch rebuilt from its intact records')),
    ).toBe(true);
    const quarantined = lines.filter((l) => l.includes(lost) && l.includes('batch quarantined'));
    // Once, at error, naming the record that cannot be trusted and what the MDMS lacks.
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]).toMatch(/"level":(50|"error")/);
    expect(quarantined[0]).toContain(`record ${damagedRecord} damaged`);
    // The MDMS never received a damaged batch: nothing refused, the rebuilt batch stored under its own id.
    expect(Object.keys(h.mdms.metrics.snapshot()).filter((k) => k.startsWith('batches.rejected.'))).toEqual(
      [],
    );
    // Rebuilt byte for byte: the MDMS holds it under the digest the gateway stored when it first signed it.
    expect(store.hasBatch(GATEWAY_ID, rebuilt, rebuiltDigest)).toBe(true);
    // Its readings and records stay in the buffer until an operator decides.
    expect(
      readOnly(db, (d) => d.prepare('SELECT COUNT(*) AS n FROM outbox WHERE batch_id = ?').get(lost)),
    ).toEqual({
      n: lostRecords,
    });

    const doctor = await runCli(GATEWAY_BIN, ['--config', scenario.configFile, '--doctor']);
    const finding = doctor.stdout.split('\n').findIndex((l) => /^WARN {2}batches /.test(l));
    expect(finding, doctor.stdout).toBeGreaterThanOrEqual(0);
    expect(doctor.stdout).toContain(`batch ${lost} (seq `);
    expect(doctor.stdout).toContain(`record ${damagedRecord} damaged`);
  });
});
