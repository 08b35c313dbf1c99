/**
 * Broker outage for more than a simulated day: Mosquitto goes down as soon as the gateway is connected (its first
 * health message seen) and comes back once 25 hours of data have been decided (OUTAGE_DAYS=4: 73 hours). Stopping
 * it before the first decision keeps the test's meaning under load: a stalled gateway only makes the outage cover
 * more data. Meanwhile the Prometheus endpoint (the only view of the gateway while the broker is away) shows the
 * backlog and the age of the oldest unacknowledged batch growing, and the buffer stays within its configured
 * limits (records, readings, WAL on disk); the first health message after the reconnection reports the backlog;
 * afterwards the MDMS holds every record exactly once with the CSV's sums, and the gateway sent its batches
 * oldest first: each batch's first transmission in sequence order with no gap, and each neighbourhood's intervals
 * and each account's periods in time order.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { type OutageRig, firstSends, sampleUntil, scrape, startOutageRig } from '../helpers/outage.ts';
import { mdmsComplete, TEST_METERS, waitFor } from '../helpers/scenario.ts';

const HOUR = 3_600_000;
/**
 * Days of data (OUTAGE_DAYS, 2 by default, at most the fixture's 4): the outage lasts all but the last 23 hours
 * of them. The limits grow with them, so that the buffer stays within them (7 meters, 2 groups an interval).
 */
const DAYS = Number(process.env.OUTAGE_DAYS ?? 2);
const OUTAGE_HOURS = DAYS * 24 - 23;
const LIMITS = { maxPendingReadings: 500 * DAYS, maxOutboxRecords: 200 * DAYS, walCheckpointPages: 100 };
/** SQLite cuts the WAL back to this after a checkpoint (journal_size_limit, gateway/buffer/database.ts). */
const WAL_LIMIT = 2 * LIMITS.walCheckpointPages * 4096;

describe('upstream broker down for more than a day of data', () => {
  let rig: OutageRig | undefined;
  afterAll(() => rig?.close());

  it(
    'buffers within its limits, says so, and delivers everything once, oldest first',
    async () => {
      const started = Date.now();
      // Two days of seven households: north (five), tiny (two, always suppressed).
      rig = await startOutageRig(LIMITS, {
        days: DAYS,
        meters: TEST_METERS.filter((m) => m.neighbourhood !== 'east'),
      });
      const { h, watcher, port, from } = rig;
      const { store, scenario, groups } = h;
      const gateway = await rig.startThenCut();
      const down = Date.now();
      const before = store.counts();
      // Until the aggregator has decided 25 hours of data (by default), from the first scrape or the data's start.
      const first = await scrape(port, scenario.dbFile);
      const samples = [
        first,
        ...(await sampleUntil(
          port,
          scenario.dbFile,
          (s) => s.dataAt >= Math.max(first.dataAt, from) + OUTAGE_HOURS * HOUR,
          120_000 * DAYS,
        )),
      ];
      const last = samples.at(-1)!;
      expect(store.counts()).toEqual(before);
      // The backlog grows and ages: every group decided and bill released meanwhile waits, in signed batches.
      expect(last.groups - first.groups, JSON.stringify({ first, last })).toBeGreaterThanOrEqual(48);
      expect(last.outboxRecords - first.outboxRecords).toBe(
        last.groups - first.groups + last.bills - first.bills,
      );
      expect(last.batches).toBeGreaterThan(first.batches);
      for (const [a, b] of samples.slice(1).map((s, i) => [samples[i]!, s] as const)) {
        expect(b.outboxRecords).toBeGreaterThanOrEqual(a.outboxRecords);
        expect(b.batches).toBeGreaterThanOrEqual(a.batches);
        expect(b.oldestBatchAgeSeconds).toBeGreaterThanOrEqual(a.oldestBatchAgeSeconds);
      }
      // The oldest batch is at least as old as the time since the first scrape that saw it.
      const firstBatch = samples.find((s) => s.batches > 0)!;
      expect(last.oldestBatchAgeSeconds).toBeGreaterThanOrEqual(
        Math.floor((last.at - firstBatch.at) / 1000) - 1,
      );
      expect(last.oldestBatchAgeSeconds).toBeGreaterThan(10);
      // Within the configured limits, so nothing was dropped or left out of an aggregate.
      for (const s of samples) {
        expect(s.pendingReadings).toBeLessThanOrEqual(LIMITS.maxPendingReadings);
        expect(s.outboxRecords).toBeLessThanOrEqual(LIMITS.maxOutboxRecords);
        expect(s.walBytes).toBeLessThanOrEqual(WAL_LIMIT + 64 * 4096);
        expect({ full: s.full, notAggregated: s.notAggregated, dropped: s.dropped }).toEqual({
          full: 0,
          notAggregated: 0,
          dropped: { aggregate: 0, suppressed: 0 },
        });
      }

      await rig.restore();
      const up = Date.now();
      await waitFor(
        () => mdmsComplete(store, scenario.expected),
        120_000,
        'all records after the outage',
        () => JSON.stringify(store.counts()),
      );
      const drained = Date.now();
      // The first health message after the reconnection is made at the connection, before any acknowledgement.
      const after = (x: (typeof watcher.healths)[number]) => Date.parse(x.body.at) >= up - 1000;
      await waitFor(() => watcher.healths.some(after), 60_000, 'a health message after the reconnection');
      const back = watcher.healths.find(after)!;
      expect(back.body.buffer.outboxRecords).toBeGreaterThanOrEqual(last.outboxRecords);
      expect(back.body.buffer.batches).toBeGreaterThanOrEqual(last.batches);
      expect(back.body.buffer.oldestUnackedBatchAgeSeconds).toBeGreaterThanOrEqual(
        last.oldestBatchAgeSeconds,
      );
      expect(back.body.buffer).toMatchObject({ full: false, dropped: { aggregate: 0, suppressed: 0 } });
      // Then the acknowledgements empty it.
      await waitFor(() => watcher.healths.at(-1)!.body.buffer.outboxRecords === 0, 60_000, 'an empty outbox');
      expect(watcher.healths.at(-1)!.body.buffer.oldestUnackedBatchAgeSeconds).toBeNull();

      await new Promise((r) => setTimeout(r, 3000));
      expect(store.counts().aggregates + store.counts().suppressed).toBe(groups);
      expectExactlyExpected(store, scenario.expected);
      expect(h.mdms.metrics.get('records.duplicate')).toBe(0);
      // Oldest first: every batch's first transmission in sequence order, 1..N with no gap, as the MDMS stored
      // them; and within them each neighbourhood's intervals and each account's periods in time order.
      const sent = firstSends(watcher.batches);
      expect(sent.map((b) => b.seq)).toEqual(sent.map((_, i) => i + 1));
      expect(sent.length).toBe(store.counts().batches);
      const order = new Map<string, string[]>();
      for (const r of sent.flatMap((b) => b.records)) {
        const [key, at] = r.kind === 'bill' ? [r.account, r.periodStart] : [r.neighbourhood, r.intervalStart];
        order.set(key, [...(order.get(key) ?? []), at]);
      }
      for (const [key, list] of order) expect(list, key).toEqual([...new Set(list)].sort());
      const resent = watcher.batches.length - sent.length;

      // The gateway noticed the outage and reconnected, rather than the test passing around it.
      const log = readFileSync(scenario.logFile, 'utf8');
      expect(log).toContain('upstream broker unreachable');
      expect(log.match(/connected to upstream broker/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
      console.log(
        JSON.stringify({
          outageSeconds: (up - down) / 1000,
          outageDataHours: (last.dataAt - first.dataAt) / HOUR,
          backlog: { records: last.outboxRecords, batches: last.batches, age: last.oldestBatchAgeSeconds },
          maxPendingReadings: Math.max(...samples.map((s) => s.pendingReadings)),
          maxDbBytes: Math.max(...samples.map((s) => s.dbBytes)),
          maxWalBytes: Math.max(...samples.map((s) => s.walBytes)),
          drainSeconds: (drained - up) / 1000,
          batches: sent.length,
          resent,
          mdmsDuplicateBatches: h.mdms.metrics.get('batches.duplicate'),
          testSeconds: (Date.now() - started) / 1000,
        }),
      );
    },
    300_000 * DAYS,
  );
});
