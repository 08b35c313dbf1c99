/**
 * Remote configuration of a running gateway process, end to end with the operator's tool (`scripts/operator`),
 * Mosquitto and the reference MDMS, on a day of the real data: adding a neighbourhood and its meters takes effect
 * without a restart while the other meters' readings keep flowing (every one of their sums and bills arrives,
 * within its noise bound); a command pointing at a serial port that does not exist is rolled back and reported, the file left as
 * it was; log levels set per component (warn by default, debug for the aggregator) apply at once, line by line;
 * and when the gateway process is killed, its retained status turns offline (the MQTT last will).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../gateway/protocol/topics.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { expectWithinNoise } from '../helpers/assert-mdms.ts';
import { operatorRig, type RawConfig } from '../helpers/operator.ts';
import { GATEWAY_ID, waitFor } from '../helpers/scenario.ts';

const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-10T00:00:00Z';

describe('remote configuration of a running gateway', () => {
  let h: Harness;
  let operator: ReturnType<typeof operatorRig>;

  beforeAll(async () => {
    h = await startHarness({
      from: FROM,
      to: TO,
      speed: 1800,
      anchor: new Date(Date.now() + 15_000).toISOString(),
      graceMinutes: { intervals: 120, billing: 180 },
    });
    // The gateway starts without the "tiny" neighbourhood and its two meters; the operator adds them later.
    operator = operatorRig(h, 'tiny');
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('adds a neighbourhood live, rolls back a missing port, sets log levels per component, and goes offline by its last will', async () => {
    const gateway = h.spawn();
    await h.waitStarted();
    // Readings flow: the first sums arrive.
    await waitFor(() => h.store.counts().aggregates >= 4, 60_000, 'the first sums');

    const current = await operator('get');
    expect(current.code, current.stderr).toBe(0);
    const config = parse(current.stdout) as RawConfig;
    config.neighbourhoods.push({ id: 'tiny' });
    for (const [id, household, account] of [
      ['m11', '10017472', 'ACC-011'],
      ['m12', '10017476', 'ACC-012'],
    ] as const) {
      config.meters.push({
        id,
        neighbourhood: 'tiny',
        account,
        source: { driver: 'replay', household },
      });
    }
    const addFile = path.join(h.scenario.dir, 'add-tiny.yaml');
    writeFileSync(addFile, stringify(config));
    const added = await operator('set', '--file', addFile);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('applied, without a restart');
    expect(added.stdout).toMatch(/live\s+meters\.m11/);
    expect(added.stdout).toMatch(/live\s+neighbourhoods\.tiny/);
    const afterAdd = readFileSync(h.scenario.configFile, 'utf8');

    // A serial meter on a port that does not exist: rolled back, the file as it was, the reason given.
    const broken = structuredClone(config) as RawConfig & { drivers: Record<string, unknown> };
    broken.drivers.serial = { p1: { path: '/dev/ttyMETERSPACE-MISSING', protocol: 'dsmr' } };
    broken.neighbourhoods.push({ id: 'west' });
    broken.meters.push({
      id: 'm13',
      neighbourhood: 'west',
      account: 'ACC-013',
      source: { driver: 'serial', port: 'p1' },
    });
    const brokenFile = path.join(h.scenario.dir, 'broken.yaml');
    writeFileSync(brokenFile, stringify(broken));
    const refused = await operator('set', '--file', brokenFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('CONFIG_ROLLED_BACK');
    expect(refused.stderr).toContain('/dev/ttyMETERSPACE-MISSING does not exist');
    expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(afterAdd);

    // Moving an enrolled or any existing meter, or joining one to an existing neighbourhood, is for the site only.
    const moved = structuredClone(config);
    moved.meters.find((m) => m.id === 'm01')!.neighbourhood = 'tiny';
    const movedFile = path.join(h.scenario.dir, 'moved.yaml');
    writeFileSync(movedFile, stringify(moved));
    const floor = await operator('set', '--file', movedFile);
    expect(floor.code).toBe(1);
    expect(floor.stderr).toContain('PRIVACY_FLOOR');
    expect(floor.stderr).toContain('meters.m01: an existing entry changes only locally');
    expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(afterAdd);

    // Log levels per component, changed remotely, take effect at once: warn by default, debug for the aggregator.
    const logLines = () =>
      h
        .log()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { time: number; level: number; component?: string });
    expect(logLines().some((l) => l.component === 'uplink' && l.level === 30)).toBe(true);
    const levelled = { ...(config.gateway as object), logLevel: 'warn', logLevels: { aggregate: 'debug' } };
    const levels = { ...structuredClone(config), gateway: levelled };
    const levelsFile = path.join(h.scenario.dir, 'levels.yaml');
    writeFileSync(levelsFile, stringify(levels));
    const quieter = await operator('set', '--file', levelsFile);
    expect(quieter.code, quieter.stderr).toBe(0);
    expect(quieter.stdout).toMatch(/live\s+gateway\.logLevels/);
    const since = Date.now();
    await waitFor(
      () => logLines().some((l) => l.time > since && l.component === 'aggregate' && l.level === 20),
      20_000,
      "the aggregator's debug lines",
    );
    const after = logLines().filter((l) => l.time > since);
    expect(after.filter((l) => l.level < 40 && l.component !== 'aggregate')).toEqual([]);

    // Everything of north and east arrives, within its noise bound, across the change; tiny is decided from the change on.
    const expected = h.scenario.expected;
    const northEast = [...expected.aggregates.keys()].filter((k) => !k.startsWith('tiny'));
    await waitFor(
      () => {
        const got = new Set(h.store.aggregates().map((a) => `${a.neighbourhood} ${a.interval_start}`));
        return northEast.every((k) => got.has(k)) && h.store.suppressed().length > 0;
      },
      120_000,
      'every sum of north and east',
    );
    for (const a of h.store.aggregates()) {
      const want = expected.aggregates.get(`${a.neighbourhood} ${a.interval_start}`);
      expect(a.meters).toBe(want!.meters);
      expectWithinNoise(a, want!.readings, a.interval_start);
    }
    const tiny = h.store.suppressed();
    expect(
      tiny.every((s) => s.neighbourhood === 'tiny' && expected.suppressed.has(`tiny ${s.interval_start}`)),
    ).toBe(true);
    expect(gateway.child.exitCode).toBeNull();

    // The last will: killed, the gateway's retained status turns offline.
    const watcher = await mqtt.connectAsync(h.broker.url, { clientId: 'status-watcher' });
    const states: boolean[] = [];
    watcher.on('message', (_t, payload) =>
      states.push((JSON.parse(payload.toString()) as { online: boolean }).online),
    );
    await watcher.subscribeAsync(topics.status('meterspace/v1', GATEWAY_ID), { qos: 1 });
    await waitFor(() => states.at(-1) === true, 10_000, 'the retained online status');
    gateway.child.kill('SIGKILL');
    await waitFor(() => states.at(-1) === false, 30_000, 'the last will (offline)');
    await watcher.endAsync();
  }, 300_000);
});
