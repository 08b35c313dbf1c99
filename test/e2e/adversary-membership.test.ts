/**
 * Issue #14 "Why" 1, played end to end: the operator (holding its key, with `scripts/operator`), the supplier's
 * MDMS and the broker together, against a real gateway process, Mosquitto and the reference MDMS, on the real
 * data. Every membership attack is refused with its code, nothing of it is applied (the file stays as it was, no
 * sum of the padded neighbourhood reaches the MDMS): padding a household with known meters under a new id,
 * re-pointing its source, re-adding removed ids or devices, removing its neighbours; a neighbourhood removed
 * mid-period gets no bill for that period (a bill cut short would be its households' readings). On site, a local file that
 * re-points a bound source does not start; after `scripts/gateway rehome` it does, and health reports the re-home.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchHealth, type HealthWatch } from '../helpers/health-watch.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import {
  addOperatorKey,
  operatorCli,
  type OperatorKey,
  type RawConfig,
  type RawMeter,
} from '../helpers/operator.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_BIN, GATEWAY_ID, waitFor } from '../helpers/scenario.ts';

const AUDIT = path.resolve(import.meta.dirname, '../../scripts/audit');
const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-10T00:00:00Z';

type Raw = RawConfig;

const replay = (id: string, nb: string, household: string): RawMeter => ({
  id,
  neighbourhood: nb,
  account: `ACC-${id}`,
  source: { driver: 'replay', household },
});
/** Four meters whose readings the operator knows (it chose their households). */
const known = (nb: string) => ['k1', 'k2', 'k3', 'k4'].map((id) => replay(`${nb}-${id}`, nb, `known-${id}`));

describe('the operator and the supplier against membership', () => {
  let h: Harness;
  let operatorKey: OperatorKey;
  let watcher: HealthWatch | undefined;

  beforeAll(async () => {
    h = await startHarness({
      from: FROM,
      to: TO,
      speed: 1800,
      anchor: new Date(Date.now() + 10_000).toISOString(),
      graceMinutes: { intervals: 60, billing: 180 },
    });
    operatorKey = addOperatorKey(h, (config) => {
      config.privacy = { k: 5, kFloor: 5 };
      config.observe = { healthSeconds: 1 };
    });
  }, 120_000);

  afterAll(async () => {
    await watcher?.close();
    await h?.close();
  });

  it('refuses every membership attack remotely, and re-pointing a bound source locally until a re-home on site', async () => {
    const gateway = h.spawn();
    const operator = operatorCli(h, operatorKey);
    const set = async (edit: (c: Raw) => void, name: string) => {
      const next = parse(readFileSync(h.scenario.configFile, 'utf8')) as Raw;
      edit(next);
      const file = path.join(h.scenario.dir, `${name}.yaml`);
      writeFileSync(file, stringify(next));
      return operator('set', '--file', file);
    };
    // North's and east's meters have sent readings, so they are bound (tiny's households start in the evening).
    await waitFor(() => h.store.counts().aggregates >= 4, 60_000, 'the first sums');
    const bound = () => {
      const db = new Database(h.scenario.dbFile, { readonly: true });
      try {
        return db.prepare('SELECT meter_id, state FROM meter_ids ORDER BY meter_id').all() as {
          meter_id: string;
          state: string;
        }[];
      } finally {
        db.close();
      }
    };
    await waitFor(() => bound().length === 10, 30_000, "north's and east's meters bound");
    const before = readFileSync(h.scenario.configFile, 'utf8');
    const refusedWith = (run: { code: number; stderr: string }, ...lines: string[]) => {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain('[PRIVACY_FLOOR]');
      for (const line of lines) expect(run.stderr).toContain(line);
      expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(before);
    };
    const m01Household = (c: Raw) => c.meters.find((m) => m.id === 'm01')!.source.household as string;

    // (a) "Why" 1 verbatim: m01 out of north, its source under a new id in a new neighbourhood of known meters.
    const padding = await set((c) => {
      const household = m01Household(c);
      c.meters = c.meters.filter((m) => m.id !== 'm01');
      c.neighbourhoods.push({ id: 'pad' });
      c.meters.push(replay('victim', 'pad', household), ...known('pad'));
    }, 'padding');
    refusedWith(
      padding,
      'meters.m01: [MEMBERSHIP_STEERED]',
      'meters.victim.source: [DEVICE_NOT_NEW]',
      'meters.victim.source: [DEVICE_BOUND_ELSEWHERE]',
    );
    // (a') the same without touching m01: two ids on one device.
    const twin = await set((c) => {
      c.neighbourhoods.push({ id: 'pad2' });
      c.meters.push(replay('twin', 'pad2', m01Household(c)), ...known('pad2'));
    }, 'twin');
    refusedWith(twin, 'meters.twin.source: [DEVICE_NOT_NEW]');
    // (e) m01's neighbours removed, so that it is left with meters the operator knows.
    const isolate = await set((c) => {
      c.meters = c.meters.filter((m) => m.neighbourhood !== 'north' || m.id === 'm01');
    }, 'isolate');
    refusedWith(isolate, 'meters.m02: [MEMBERSHIP_STEERED]', 'meters.m05: [MEMBERSHIP_STEERED]');

    // (c) A whole neighbourhood may go; its ids and devices never come back, under old or new ids.
    const removed = await set((c) => {
      c.meters = c.meters.filter((m) => m.neighbourhood !== 'east');
      c.neighbourhoods = c.neighbourhoods.filter((n) => n.id !== 'east');
    }, 'remove-east');
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('applied, without a restart');
    expect(
      bound()
        .filter((r) => r.state === 'retired')
        .map((r) => r.meter_id),
    ).toEqual(['m06', 'm07', 'm08', 'm09', 'm10']);
    const afterRemoval = readFileSync(h.scenario.configFile, 'utf8');
    const readd = await set((c) => {
      c.neighbourhoods.push({ id: 'east' }, { id: 'east2' });
      c.meters.push(
        replay('m06', 'east', '10006684'),
        replay('fresh', 'east2', '10006694'),
        ...known('east2'),
      );
    }, 'readd');
    expect(readd.code).toBe(1);
    for (const line of [
      'neighbourhoods.east: [NEIGHBOURHOOD_ID_RETIRED]',
      'meters.m06: [METER_ID_RETIRED]',
      'meters.fresh.source: [DEVICE_NOT_NEW]',
    ])
      expect(readd.stderr).toContain(line);
    expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(afterRemoval);

    // Nothing of any refused neighbourhood reached the supplier.
    const groups = new Set(h.store.aggregates().map((a) => a.neighbourhood));
    for (const nb of ['pad', 'pad2', 'east2']) expect(groups.has(nb)).toBe(false);

    // The auditor's tool runs the same attacks against this live gateway: all refused, nothing changed.
    const audit = await runCli(AUDIT, [
      ...['--gateway', GATEWAY_ID, '--broker', h.broker.url, '--meter', 'm01'],
      ...['--key', operatorKey.private, '--gateway-public', h.keys.files.gatewayPublic],
    ]);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    for (const attack of ['padding', 'twin', 'isolate', 'move']) {
      expect(audit.stdout).toMatch(new RegExp(`^PASS  ${attack} +refused \\[PRIVACY_FLOOR`, 'm'));
    }
    expect(audit.stdout).toMatch(
      /^PASS {2}padding +refused \[PRIVACY_FLOOR, MEMBERSHIP_STEERED, DEVICE_NOT_NEW/m,
    );
    expect(audit.stdout).toMatch(/^SKIP {2}alias/m);
    expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(afterRemoval);

    // (d) The removal ended east's households' bills mid-period: cut short there, each would be that household's
    // readings up to the removal. Their open periods are withheld (logged); the other bills arrive as ever.
    const accountsOf = (east: boolean) =>
      (parse(before) as Raw).meters
        .filter((m) => (m.neighbourhood === 'east') === east)
        .map((m) => m.account);
    const billed = () => new Set(h.store.bills().map((b) => b.account));
    await waitFor(() => accountsOf(false).every((a) => billed().has(a)), 90_000, 'the other bills');
    const log = readFileSync(h.scenario.logFile, 'utf8');
    for (const account of accountsOf(true)) {
      expect(billed().has(account), account).toBe(false);
      expect(log).toMatch(new RegExp(`"account":"${account}".*open bill withheld`));
    }

    // (f) On site: a local file giving m01's source a new id does not start, and says what to run.
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    const local = parse(afterRemoval) as Raw;
    local.meters.find((m) => m.id === 'm01')!.id = 'm01b';
    writeFileSync(h.scenario.configFile, stringify(local));
    const refusedStart = h.spawn();
    expect(await refusedStart.exited).not.toBe(0);
    expect(refusedStart.output()).toContain('DEVICE_BOUND_ELSEWHERE');
    expect(refusedStart.output()).toContain(`rehome m01 --reason`);

    const rehome = await runCli(GATEWAY_BIN, [
      ...['--config', h.scenario.configFile, 'rehome', 'm01'],
      ...['--reason', 'meter replaced by the DSO'],
    ]);
    expect(rehome.code, rehome.stderr).toBe(0);
    expect(rehome.stdout).toContain('meter m01 re-homed');

    watcher = await watchHealth(h.broker.url, h.keys.gatewayPublicKey, 'adversary-health');
    const { healths } = watcher;
    const restarted = h.spawn();
    await waitFor(() => healths.length > 0, 60_000, 'a health message after the re-home');
    expect(healths[0]!.rehomes).toEqual([
      { meter: 'm01', at: expect.any(String) as string, reason: 'meter replaced by the DSO' },
    ]);
    // The retired id stays retired: the old file no longer starts either.
    restarted.child.kill('SIGTERM');
    await restarted.exited;
    writeFileSync(h.scenario.configFile, afterRemoval);
    const oldId = h.spawn();
    expect(await oldId.exited).not.toBe(0);
    expect(oldId.output()).toContain('METER_ID_RETIRED');
  }, 180_000);
});
