/**
 * Broker outage: Mosquitto goes down mid-run and comes back. The gateway keeps buffering; afterwards the MDMS
 * holds every record exactly once with the CSV's sums.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { mdmsComplete, TEST_METERS, waitFor } from '../helpers/scenario.ts';

describe('upstream broker down for a while', () => {
  let h: Harness | undefined;
  afterAll(() => h?.close());

  it('delivers everything once the broker is back, nothing twice', async () => {
    h = await startHarness({
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-10T00:00:00Z',
      speed: 1800,
      meters: TEST_METERS.filter((m) => m.neighbourhood !== 'north'),
    });
    const { broker, store, scenario, groups } = h;

    const gateway = h.spawn();
    await waitFor(() => store.counts().batches >= 2, 90_000, 'the first batches');
    await broker.stop();
    const before = store.counts();
    // Eight real seconds are four hours of data at 1800×: several batches pile up in the buffer.
    await new Promise((r) => setTimeout(r, 8000));
    expect(store.counts()).toEqual(before);
    await broker.restart();
    await waitFor(
      () => mdmsComplete(store, scenario.expected),
      120_000,
      'all records after the outage',
      () => JSON.stringify(store.counts()),
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(store.counts().aggregates + store.counts().suppressed).toBe(groups);
    expectExactlyExpected(store, scenario.expected);
    // The gateway noticed the outage and reconnected, rather than the test passing around it.
    const log = readFileSync(scenario.logFile, 'utf8');
    expect(log).toContain('upstream broker unreachable');
    expect(log.match(/connected to upstream broker/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  }, 240_000);
});
