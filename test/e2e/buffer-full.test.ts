/**
 * The buffer full: buffer.maxOutboxRecords at its minimum (100) and the broker down from the gateway's first
 * health message until a day of data (twelve households) is decided and billed. The documented policy
 * (docs/buffer.md, "Limits and the policy when full") must apply exactly: at most half the limit waits in signed
 * batches, the outbox stays at the limit (bills may exceed it, never dropped), the oldest unbatched aggregate and
 * suppressed records are dropped and each drop is counted — on the Prometheus endpoint during the outage, in the
 * first health message after it — and once the broker is back the MDMS gets every bill with the CSV's sums and
 * every record that was kept, so that records received + counted drops = the CSV's groups, exactly.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isoUtc } from '../../gateway/time/zoned.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { firstSends, type OutageRig, sampleUntil, startOutageRig } from '../helpers/outage.ts';
import { TEST_METERS, waitFor } from '../helpers/scenario.ts';

/**
 * maxOutboxRecords at its minimum; maxPendingReadings above the scenario's 576 readings, so that every group is
 * formed and decided and the drops can be counted against the CSV exactly.
 */
const LIMITS = { maxOutboxRecords: 100, maxPendingReadings: 1000 };

/** The groups ("neighbourhood interval") in signed batches in the gateway's buffer now. */
function signedGroups(dbFile: string): Set<string> {
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT group_nb, group_start FROM outbox WHERE batch_id IS NOT NULL AND group_nb IS NOT NULL')
      .all() as { group_nb: string; group_start: number }[];
    return new Set(rows.map((r) => `${r.group_nb} ${isoUtc(r.group_start)}`));
  } finally {
    db.close();
  }
}

describe('buffer full during a long outage', () => {
  let rig: OutageRig | undefined;
  afterAll(() => rig?.close());

  it('drops the oldest unbatched aggregates, counts each, never a bill', async () => {
    const started = Date.now();
    // A day of twelve households in three neighbourhoods: north and east (five each), tiny (two).
    rig = await startOutageRig(LIMITS, { days: 1, meters: TEST_METERS });
    const { h, watcher, port } = rig;
    const { store, scenario } = h;
    const { expected } = scenario;
    const gateway = await rig.startThenCut();
    const keyOf = (r: { neighbourhood: string; interval_start: string }) =>
      `${r.neighbourhood} ${r.interval_start}`;
    // Groups delivered before the cut, if a loaded machine let the gateway decide any by then.
    const delivered = new Set([...store.aggregates(), ...store.suppressed()].map(keyOf));
    // Until every group of the two days is decided and every bill released, with the broker down throughout.
    const samples = await sampleUntil(
      port,
      scenario.dbFile,
      // ... and the batcher done: nothing waits unbatched, or half the limit is in batches (no room for more).
      (s) =>
        s.groups === h.groups &&
        s.bills === expected.bills.size &&
        (s.unbatchedRecords === 0 || s.outboxRecords - s.unbatchedRecords >= LIMITS.maxOutboxRecords / 2),
      240_000,
    );
    // The groups signed into batches while the broker was down: they wait for it and are never dropped.
    const signed = signedGroups(scenario.dbFile);
    const last = samples.at(-1)!;
    for (const s of samples) {
      // Half the limit in signed batches; the outbox at the limit but for bills, which are never dropped.
      expect(s.outboxRecords - s.unbatchedRecords).toBeLessThanOrEqual(LIMITS.maxOutboxRecords / 2);
      expect(s.outboxRecords).toBeLessThanOrEqual(LIMITS.maxOutboxRecords + s.bills);
      expect(s.pendingReadings).toBeLessThanOrEqual(LIMITS.maxPendingReadings);
      expect(s.notAggregated).toBe(0);
    }
    expect(last.full, JSON.stringify({ last, delivered: delivered.size })).toBe(1);
    const dropped = last.dropped.aggregate + last.dropped.suppressed;
    expect(dropped).toBeGreaterThanOrEqual(10);

    await rig.restore();
    const up = Date.now();
    // Everything kept arrives: what the MDMS holds and what was dropped add up to every group of the CSV.
    const received = () => store.counts().aggregates + store.counts().suppressed;
    await waitFor(
      () => received() + dropped === h.groups && store.counts().bills === expected.bills.size,
      120_000,
      'every record kept',
      () => JSON.stringify({ mdms: store.counts(), dropped, groups: h.groups }),
    );
    const drained = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    expect(store.counts().aggregates).toBe(expected.aggregates.size - last.dropped.aggregate);
    expect(store.counts().suppressed).toBe(expected.suppressed.size - last.dropped.suppressed);
    // Every bill, and every record received, exactly as the CSV says; nothing twice.
    const got = new Set([...store.aggregates(), ...store.suppressed()].map(keyOf));
    expectExactlyExpected(store, {
      aggregates: new Map([...expected.aggregates].filter(([key]) => got.has(key))),
      suppressed: new Set([...expected.suppressed].filter((key) => got.has(key))),
      bills: expected.bills,
    });
    expect(h.mdms.metrics.get('records.duplicate')).toBe(0);
    // The oldest unbatched went, the newest stayed: every group after the newest one lost was received, and
    // every group received before it had been signed into a batch (a stall can decide groups faster than they
    // are batched: those that found no room in a batch were the oldest unbatched ones, and were dropped).
    const all = [...expected.aggregates.keys(), ...expected.suppressed];
    const startOf = (key: string) => key.split(' ')[1]!;
    const lost = all
      .filter((key) => !got.has(key))
      .map(startOf)
      .sort();
    expect(lost.length).toBe(dropped);
    const newer = all.filter((key) => startOf(key) > lost.at(-1)!);
    expect(newer.length).toBeGreaterThan(0);
    for (const key of newer) expect(got.has(key), key).toBe(true);
    const older = [...got].filter((key) => startOf(key) < lost.at(-1)!);
    for (const key of older) expect(signed.has(key) || delivered.has(key), key).toBe(true);
    // Signed oldest interval first, as they would be dropped: in the order of the batches, no interval goes back.
    const sent = firstSends(watcher.batches)
      .sort((a, b) => a.seq - b.seq)
      .flatMap((b) => b.records.flatMap((r) => (r.kind === 'bill' ? [] : [r.intervalStart])));
    for (let i = 1; i < sent.length; i++) expect(sent[i]! >= sent[i - 1]!, sent[i]).toBe(true);

    // The first health message after the reconnection says the buffer is full and what it dropped.
    const after = (x: (typeof watcher.healths)[number]) => Date.parse(x.body.at) >= up - 1000;
    await waitFor(() => watcher.healths.some(after), 60_000, 'a health message after the reconnection');
    const back = watcher.healths.find(after)!;
    expect(back.body.buffer).toMatchObject({ full: true, notAggregated: 0, dropped: last.dropped });
    await waitFor(() => watcher.healths.at(-1)!.body.buffer.outboxRecords === 0, 60_000, 'an empty outbox');
    expect(watcher.healths.at(-1)!.body.buffer).toMatchObject({ full: false, dropped: last.dropped });

    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    console.log(
      JSON.stringify({
        groups: h.groups,
        dropped: last.dropped,
        bills: store.counts().bills,
        maxOutbox: Math.max(...samples.map((s) => s.outboxRecords)),
        maxBatched: Math.max(...samples.map((s) => s.outboxRecords - s.unbatchedRecords)),
        maxPending: Math.max(...samples.map((s) => s.pendingReadings)),
        drainSeconds: (drained - up) / 1000,
        testSeconds: (Date.now() - started) / 1000,
      }),
    );
  }, 600_000);
});
