/**
 * Clock jumps (issue #7, 4): the real composition root (gateway/gateway.ts, in-process so that its data clock can
 * be stepped at chosen moments) on a real SQLite buffer, a real Mosquitto and the reference MDMS, replaying 7
 * households of the real data, plus one MQTT meter (generic JSON, placed by its own clock) whose readings arrive
 * late, from ahead of the clock and from far in the future. The data clock jumps forwards (hours, a day) and
 * backwards (45 minutes; 3 hours across a billing-period boundary, just after that period's bills were
 * acknowledged and deleted), and the gateway is restarted with the clock at 1970 (a Pi without a real-time clock
 * before NTP) and then set. At every stop the MDMS holds exactly the groups and bills due by then; at the end
 * exactly the expected ones, sums equal to the CSV's, and no record was ever published in two batches.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../gateway/config/load.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { createLogger } from '../../gateway/observe/log.ts';
import { openEnvelope } from '../../gateway/protocol/envelope.ts';
import { HealthBody } from '../../gateway/protocol/health-message.ts';
import type { BatchBodyMsg } from '../../gateway/protocol/messages.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { ManualClock } from '../../gateway/time/clock.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { makeKeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { GATEWAY_ID, makeScenario, startMdms, TEST_METERS, waitFor } from '../helpers/scenario.ts';

const MIN = 60_000;
const H = 60 * MIN;
const DAY = 24 * H;
const T0 = Date.parse('2012-10-09T00:00:00Z');
const TO = '2012-10-11T06:00:00Z';
const GRACE = { intervals: 60, billing: 120 };
const PREFIX = 'meterspace/v1';
/** The MQTT meter's register grows 10 Wh a minute, so each of its readings is 300 Wh. */
const registerAt = (t: number) => (t - Date.UTC(2012, 0, 1)) / 6000;
const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
const WAIT = 90_000;

describe('clock jumps forwards and backwards', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('releases every interval and bill exactly once, loses none, and holds while the clock is behind', async () => {
    const broker: Mosquitto = await startMosquitto();
    cleanup.push(() => broker.stop());
    const keys = await makeKeySet();
    const scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: iso(T0),
      to: TO,
      speed: 1,
      // North (5 meters, released) and tiny (2, suppressed): every kind of group, at half the encryptions.
      meters: TEST_METERS.filter((m) => m.neighbourhood !== 'east'),
      graceMinutes: GRACE,
    });
    const expected = scenario.expected;
    // The MQTT meter joins "tiny" (always below k) with an account of its own; its bills are computed here:
    // a late reading billed in its own (open) period, one on time, one late after its period's bill was sent
    // (billed in the current period) and one held while the clock was not set.
    const M13 = { late: T0 + 20 * H + 30 * MIN, onTime: T0 + DAY + 12 * H, lateAcross: T0 + DAY + 23 * H };
    const HELD = T0 + 2 * DAY + 3 * H;
    for (const t of [...Object.values(M13), HELD])
      expect(expected.suppressed.has(`tiny ${iso(t)}`)).toBe(true);
    expected.bills.set(`ACC-013 ${iso(T0)}`, { intervals: 1, totalWh: 300, peakWh: 300, offpeakWh: 0 });
    expected.bills.set(`ACC-013 ${iso(T0 + DAY)}`, { intervals: 1, totalWh: 300, peakWh: 300, offpeakWh: 0 });
    expected.bills.set(`ACC-013 ${iso(T0 + 2 * DAY)}`, {
      intervals: 2,
      totalWh: 600,
      peakWh: 0,
      offpeakWh: 600,
    });

    const raw = parse(readFileSync(scenario.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    raw.observe = { healthSeconds: 1 };
    raw.drivers!.mqtt = { url: broker.url };
    (raw.meters as unknown as unknown[]).push({
      id: 'm13',
      neighbourhood: 'tiny',
      account: 'ACC-013',
      source: { driver: 'mqtt', topic: 'meters/m13', format: 'generic' },
    });
    const config = validateConfig(raw);
    const { store, receiver } = await startMdms(broker.url, keys, `${scenario.dir}/mdms.sqlite`);
    cleanup.push(() => receiver.stop());

    // Everything published upstream, and every health message (parsed strictly: no count may be negative).
    const spy = await mqtt.connectAsync(broker.url, { clientId: 'clock-spy' });
    cleanup.push(() => spy.endAsync());
    const batches = new Map<string, BatchBodyMsg>();
    const healths: { run: number; body: HealthBody }[] = [];
    let run = 1;
    spy.on('message', (topic, payload) => {
      if (topic.endsWith('/batch')) {
        const body = JSON.parse((JSON.parse(payload.toString()) as { body: string }).body) as BatchBodyMsg;
        batches.set(body.batchId, body);
      } else {
        healths.push({ run, body: HealthBody.parse(openEnvelope(payload, keys.gatewayPublicKey).body) });
      }
    });
    await spy.subscribeAsync([topics.batch(PREFIX, GATEWAY_ID), topics.health(PREFIX, GATEWAY_ID)], {
      qos: 1,
    });
    const meter = await mqtt.connectAsync(broker.url, { clientId: 'meter-m13' });
    cleanup.push(() => meter.endAsync());

    const source = new ManualClock(T0);
    const log = createLogger({ level: 'info', file: scenario.logFile });
    const notBefore = Date.parse('2012-10-01T00:00:00Z');
    let gateway = new Gateway({ config, log, clock: source, wall: source, notBefore });
    cleanup.push(() => gateway.stop());
    await gateway.start();

    const diag = () =>
      `MDMS ${JSON.stringify(store.counts())}, outbox ${JSON.stringify(gateway.outboxCounts())}, ` +
      `counters ${JSON.stringify(gateway.metrics.snapshot())}`;
    const groupKeys = [...expected.aggregates.keys(), ...expected.suppressed];
    /** Waits until the MDMS holds exactly the groups and bills due at data time `t`, all acknowledged. */
    const settled = async (t: number) => {
      const groups = groupKeys.filter(
        (k) => Date.parse(k.split(' ')[1]!) + 30 * MIN + GRACE.intervals * MIN <= t,
      );
      const bills = [...expected.bills.keys()].filter(
        (k) => Date.parse(k.split(' ')[1]!) + DAY + GRACE.billing * MIN <= t,
      );
      await waitFor(
        () => {
          const c = store.counts();
          const o = gateway.outboxCounts();
          return c.aggregates + c.suppressed === groups.length && c.bills === bills.length && o.records === 0;
        },
        WAIT,
        `the MDMS to hold the ${groups.length} groups and ${bills.length} bills due at ${iso(t)}`,
        diag,
      );
    };
    const step = async (t: number) => {
      source.set(t);
      // A tick at once, before the replay driver's timer has had a turn (the order a loaded machine can give):
      // the readings the clock has now reached must still be in their own groups and billing periods.
      gateway.runOnce();
      await settled(t);
    };
    /** The MQTT meter publishes its register around [start, start + 30 min) until `done` (QoS 0 subscriber). */
    const feed = async (start: number, done: () => boolean, what: string) => {
      for (let attempt = 1; ; attempt++) {
        for (const m of [-10, 0, 10, 20, 30, 40]) {
          const at = start + m * MIN;
          const values = [{ obis: '1-0:1.8.0', value: registerAt(at), unit: 'Wh' }];
          await meter.publishAsync('meters/m13', JSON.stringify({ time: iso(at), values }), { qos: 1 });
        }
        try {
          return await waitFor(done, 5000, what, diag);
        } catch (error) {
          if (attempt === 10) throw error;
        }
      }
    };
    const count = (name: string) => gateway.metrics.get(name);
    /** Readings accepted from the MQTT meter in this run, as the latest health message says. */
    const m13Accepted = () =>
      healths.findLast((x) => x.run === run)?.body.meterStatus.find((m) => m.id === 'm13')?.accepted ?? 0;
    /** Waits for a health message of this run after `from` messages that satisfies `check`. */
    const health = async (check: (h: HealthBody) => boolean, what: string) => {
      const from = healths.length;
      await waitFor(
        () => healths.slice(from).some((h) => h.run === run && check(h.body)),
        WAIT,
        what,
        () => JSON.stringify(healths.at(-1)),
      );
      return healths.slice(from).find((h) => h.run === run && check(h.body))!.body;
    };

    // Normal running, then forwards by 15 hours: the 30 intervals in between close, none skipped.
    for (const t of [T0 + 4 * H, T0 + 8 * H, T0 + 23 * H]) await step(t);

    // Backwards by 45 minutes: the data clock stands still, nothing more is decided, nothing twice.
    source.set(T0 + 22 * H + 15 * MIN);
    let h = await health((x) => x.clock?.state === 'behind', 'a health saying the clock is behind');
    expect(h.clock!.behindSeconds).toBeGreaterThanOrEqual(45 * 60 - 5);
    expect(h.dataTime).toBe(iso(T0 + 23 * H));
    expect(count('clock.held.behind')).toBe(1);
    // A reading of an interval already decided arrives now (its meter's clock is right): late, billed only.
    await feed(M13.late, () => count('readings.late') === 1, 'a late reading');
    await settled(T0 + 23 * H);
    source.set(T0 + 23 * H + 30 * MIN);
    await health((x) => x.clock?.state === 'ok', 'a health saying the clock is ok again');
    await settled(T0 + 23 * H + 30 * MIN);

    // Forwards by a day (the first day's bills close), a reading on time, then past the second day's close.
    await step(M13.onTime + 40 * MIN);
    await feed(M13.onTime, () => m13Accepted() === 2, 'a reading on time');
    await step(T0 + 2 * DAY + 2 * H + 30 * MIN);

    // Backwards by 3 hours, across the period boundary, with that period's bills acknowledged and deleted:
    // a reading of it is late and billed in the current period; no bill of it is made again.
    source.set(T0 + DAY + 23 * H + 30 * MIN);
    h = await health((x) => x.clock?.state === 'behind', 'a health saying the clock is behind again');
    expect(h.clock!.behindSeconds).toBeGreaterThanOrEqual(3 * 3600 - 5);
    expect(count('clock.held.behind')).toBe(2);
    await feed(M13.lateAcross, () => count('readings.late') === 2, 'a late reading of a billed period');
    expect(count('readings.billed_late')).toBe(1);
    await settled(T0 + 2 * DAY + 2 * H + 30 * MIN);

    // Restart with the clock at 1970 (no RTC, before NTP): the data clock holds where the last run stopped.
    await gateway.stop();
    source.set(0);
    run = 2;
    gateway = new Gateway({ config, log, clock: source, wall: source, notBefore });
    await gateway.start();
    h = await health((x) => x.clock?.state === 'unset', 'a health saying the clock is not set');
    expect(Date.parse(h.dataTime)).toBeGreaterThanOrEqual(T0 + 2 * DAY + 2 * H + 30 * MIN);
    expect(Date.parse(h.at)).toBeLessThan(notBefore);
    expect(count('clock.held.unset')).toBe(1);
    // The meter's reading from after the held clock is encrypted and held, not lost and not released.
    await feed(HELD, () => count('readings.held') === 1, 'a held reading');
    await health((x) => x.buffer.heldReadings === 1, 'a health counting the held reading');
    await settled(T0 + 2 * DAY + 2 * H + 30 * MIN);

    // NTP sets the clock: the held reading goes in, replay catches up, the run goes on.
    await step(HELD + H);
    expect(count('readings.held_released')).toBe(1);
    // A reading from two months ahead (a meter or clock gone wrong) is refused with a code and counted.
    await feed(
      HELD + 60 * DAY,
      () => count('readings.rejected.READING_FROM_FUTURE') === 1,
      'a future reading',
    );
    await step(Date.parse(TO) + DAY);
    await gateway.stop();

    expectExactlyExpected(store, expected);
    // No record in two batches (the MDMS would ignore a second copy: this is what the gateway sent).
    const ids = [...batches.values()].flatMap((b) => b.records.map((r) => r.id));
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBe(groupKeys.length + expected.bills.size);
    // Within a run the data clock never went back in any health message, nor did the uptime.
    for (const r of [1, 2]) {
      const mine = healths.filter((x) => x.run === r).map((x) => x.body);
      for (let i = 1; i < mine.length; i++) {
        expect(Date.parse(mine[i]!.dataTime)).toBeGreaterThanOrEqual(Date.parse(mine[i - 1]!.dataTime));
        expect(mine[i]!.uptimeSeconds).toBeGreaterThanOrEqual(mine[i - 1]!.uptimeSeconds);
      }
    }
    const logText = readFileSync(scenario.logFile, 'utf8');
    expect(logText).toContain('the clock went back');
    expect(logText).toContain('the system clock has not been set');
  }, 600_000);
});
