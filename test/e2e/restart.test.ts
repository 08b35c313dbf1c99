/**
 * Crash consistency: the gateway process is SIGKILLed mid-run and started again. The MDMS must end with every
 * record exactly once and every sum equal to the CSV's; the buffer must pass SQLite's integrity check.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { mdmsComplete, TEST_METERS, waitFor } from '../helpers/scenario.ts';

describe('SIGKILL and restart of the gateway', () => {
  let h: Harness | undefined;
  afterAll(() => h?.close());

  it('loses and duplicates nothing', async () => {
    h = await startHarness({
      from: '2012-10-11T00:00:00Z',
      to: '2012-10-12T00:00:00Z',
      speed: 1800,
      meters: TEST_METERS.filter((m) => m.neighbourhood !== 'east'),
    });
    const { store, scenario, groups } = h;

    let gateway = h.spawn();
    const decided = () => store.counts().aggregates + store.counts().suppressed;
    await waitFor(() => decided() >= groups * 0.3, 90_000, 'a third of the day');
    gateway.child.kill('SIGKILL');
    expect(await gateway.exited).toBeNull();
    expect(decided()).toBeLessThan(groups);

    const db = new Database(scenario.dbFile, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    gateway = h.spawn();
    await waitFor(
      () => mdmsComplete(store, scenario.expected),
      120_000,
      'all records after the restart',
      () => JSON.stringify(store.counts()),
    );
    // Let any re-sent batch arrive before counting duplicates.
    await new Promise((r) => setTimeout(r, 3000));
    expectExactlyExpected(store, scenario.expected);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  }, 240_000);
});
