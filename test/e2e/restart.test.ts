/**
 * Crash consistency: the gateway process is SIGKILLed mid-run and started again. The MDMS must end with every
 * record exactly once and every sum equal to the CSV's; the buffer must pass SQLite's integrity check.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { makeKeySet } from '../helpers/keys.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import {
  makeScenario,
  mdmsComplete,
  spawnGateway,
  startMdms,
  TEST_METERS,
  waitFor,
  type GatewayProcess,
} from '../helpers/scenario.ts';

const METERS = TEST_METERS.filter((m) => m.neighbourhood !== 'east');

describe('SIGKILL and restart of the gateway', () => {
  let broker: Mosquitto | undefined;
  let gateway: GatewayProcess | undefined;
  let stopMdms: (() => Promise<void>) | undefined;

  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    await stopMdms?.();
    await broker?.stop();
  });

  it('loses and duplicates nothing', async () => {
    broker = await startMosquitto();
    const keys = await makeKeySet();
    const scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: '2012-10-11T00:00:00Z',
      to: '2012-10-12T00:00:00Z',
      speed: 1800,
      meters: METERS,
    });
    const { store, receiver } = await startMdms(broker.url, keys, `${scenario.dir}/mdms.sqlite`);
    stopMdms = () => receiver.stop();
    const total = scenario.expected.aggregates.size + scenario.expected.suppressed.size;

    gateway = spawnGateway(scenario.configFile);
    await waitFor(
      () => store.counts().aggregates + store.counts().suppressed >= total * 0.3,
      90_000,
      'a third of the day',
    );
    gateway.child.kill('SIGKILL');
    expect(await gateway.exited).toBeNull();
    const midway = store.counts();
    expect(midway.aggregates + midway.suppressed).toBeLessThan(total);

    const db = new Database(scenario.dbFile, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    gateway = spawnGateway(scenario.configFile);
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
