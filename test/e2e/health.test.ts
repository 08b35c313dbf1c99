/**
 * Health and metrics of a real gateway process, end to end with Mosquitto and ten hours of the real data, while
 * the MDMS is away: five households replay throughout, a sixth stops at 18:00 (stale), one of them reports a
 * reading over the bound (refused), an MQTT meter sends only corrupt payloads (refused frames), a serial meter's
 * port does not exist (down). The signed health messages must say exactly that, count the readings of each
 * decided interval from the CSV, show the unacknowledged batches piling up and ageing, and empty once the MDMS
 * comes and acknowledges; the Prometheus endpoint (on loopback, scraped over HTTP and read by a strict parser)
 * must show the same figures; and no plaintext reading or household id may appear in any of it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { packingLayout } from '../../gateway/gateway.ts';
import { openEnvelope } from '../../gateway/protocol/envelope.ts';
import { HealthBody } from '../../gateway/protocol/health-message.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { isPeak, writeSlice, type Row, type TestMeter } from '../helpers/consumption.ts';
import { makeKeySet, type KeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { findNeedles, plaintextNeedles } from '../helpers/plaintext-scan.ts';
import { freePort } from '../helpers/ports.ts';
import { parsePrometheusText, sampleOf, type MetricFamily } from '../helpers/prometheus-text.ts';
import {
  GATEWAY_ID,
  makeScenario,
  spawnGateway,
  startMdms,
  TEST_METERS,
  waitFor,
  type GatewayProcess,
  type Scenario,
} from '../helpers/scenario.ts';

const FROM = '2012-10-09T14:00:00Z';
const TO = '2012-10-10T00:00:00Z';
const I = 30 * 60_000;
const STOPS_AT = Date.parse('2012-10-09T18:00:00Z');
const BAD_END = Date.parse('2012-10-09T16:30:00Z');
const PREFIX = 'meterspace/v1';

const test = (id: string) => TEST_METERS.find((m) => m.id === id)!;
/** Replayed: m01-m05 in north (m05 stops), m10 alone in tiny; in east, an MQTT meter and a serial one. */
const METERS: TestMeter[] = [
  ...['m01', 'm02', 'm03', 'm04', 'm05'].map(test),
  { ...test('m10'), neighbourhood: 'tiny' },
  test('m06'),
  test('m07'),
];
const REPLAYED = ['m01', 'm02', 'm03', 'm04', 'm05', 'm10'];
const byId = (id: string) => METERS.find((m) => m.id === id)!;

describe('health and metrics of a running gateway', () => {
  let broker: Mosquitto;
  let keys: KeySet;
  let scenario: Scenario;
  let gateway: GatewayProcess;
  let watcher: mqtt.MqttClient;
  let metricsPort: number;
  let rows: Row[];
  const healths: HealthBody[] = [];
  const seen: Buffer[] = [];
  let stopMdms: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    broker = await startMosquitto();
    keys = await makeKeySet();
    metricsPort = await freePort();
    scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: FROM,
      to: TO,
      speed: 1800,
      meters: METERS,
      graceMinutes: { intervals: 120, billing: 60 },
      sourceOf: (m) =>
        ({
          m06: { driver: 'mqtt', topic: 'meters/m06', format: 'generic' },
          m07: { driver: 'serial', port: 'p1' },
        })[m.id],
      drivers: {
        serial: { p1: { path: '/dev/ttyMETERSPACE-NONE', protocol: 'dsmr', reopenMaxSeconds: 1 } },
        mqtt: { url: broker.url },
      },
    });
    // m05's household stops at 18:00; m03 reports 25 kWh for 16:00-16:30, above maxWhPerReading (20 kWh).
    const household = (id: string) => byId(id).household;
    rows = scenario.rows
      .filter((r) => r.household !== household('m05') || r.end <= STOPS_AT)
      .map((r) =>
        r.household === household('m03') && r.end === BAD_END ? { ...r, wh: 25_000, kwhText: '25.000' } : r,
      );
    writeSlice(
      rows,
      [...new Set(rows.map((r) => r.household))],
      Date.parse(FROM),
      Date.parse(TO),
      csvOf(scenario),
    );
    const config = parse(readFileSync(scenario.configFile, 'utf8')) as Record<string, unknown>;
    config.observe = { healthSeconds: 1, staleIntervals: 2, metrics: { listen: String(metricsPort) } };
    writeFileSync(scenario.configFile, stringify(config));

    watcher = await mqtt.connectAsync(broker.url, { clientId: 'health-watcher' });
    watcher.on('message', (_topic, payload) => {
      seen.push(Buffer.from(payload));
      healths.push(HealthBody.parse(openEnvelope(payload, keys.gatewayPublicKey).body));
    });
    await watcher.subscribeAsync(topics.health(PREFIX, GATEWAY_ID), { qos: 0 });
  }, 120_000);

  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    await watcher?.endAsync();
    await stopMdms?.();
    await broker?.stop();
  });

  it('reports meters, refusals, intervals and the growing buffer, and Prometheus agrees', async () => {
    gateway = spawnGateway(scenario.configFile);
    const log = () => safeRead(scenario.logFile);
    await waitFor(() => log().includes('meter broker connected'), 60_000, 'the meter broker connection');
    // The endpoint is on loopback: the configuration named a bare port.
    expect(log()).toContain(`"url":"http://127.0.0.1:${metricsPort}/metrics"`);
    await new Promise((r) => setTimeout(r, 1000)); // the driver's subscription
    const meters = await mqtt.connectAsync(broker.url, { clientId: 'meter-m06' });
    for (const bad of ['not json', '{"values":[]}', '{"values":[{"obis":"1-0:1.8.0","value":"x"}]}']) {
      await meters.publishAsync('meters/m06', bad, { qos: 1 });
    }
    await meters.endAsync();

    // Mid-run: m05 went quiet at 18:00, stale after two intervals; everything else as it is at the end.
    const dataAt = (h: HealthBody) => Date.parse(h.dataTime);
    await waitFor(
      () => healths.some((h) => dataAt(h) >= Date.parse('2012-10-09T20:00:00Z')),
      90_000,
      '20:00',
    );
    const mid = healths.find((h) => dataAt(h) >= Date.parse('2012-10-09T20:00:00Z'))!;
    expect(dataAt(mid)).toBeLessThan(Date.parse(TO));
    const stateOf = (h: HealthBody) => Object.fromEntries(h.meterStatus.map((m) => [m.id, m.state]));
    expect(stateOf(mid)).toEqual({
      m01: 'up',
      m02: 'up',
      m03: 'up',
      m04: 'up',
      m05: 'stale',
      m10: 'up',
      m06: 'stale', // connected, but not one reading accepted since the start
      m07: 'down',
    });
    expect(mid.meters).toEqual({ configured: 8, seen: 6, up: 5, stale: 2, down: 1 });
    expect(mid.meterStatus.find((m) => m.id === 'm05')!.lastIntervalEnd).toBe('2012-10-09T18:00:00Z');

    // Past the data and its graces: every group and bill decided, every replayed meter stale, all batched.
    await waitFor(
      () => healths.some((h) => dataAt(h) >= Date.parse('2012-10-10T03:00:00Z')),
      90_000,
      '03:00',
    );
    const last = () => healths.at(-1)!;
    const h = last();
    const rowsOf = (id: string) => rows.filter((r) => r.household === byId(id).household);
    const accepted = (id: string) => rowsOf(id).length - (id === 'm03' ? 1 : 0);
    expect(h.readings.accepted).toBe(REPLAYED.reduce((n, id) => n + accepted(id), 0));
    expect(h.readings.rejected).toEqual({ READING_OUT_OF_BOUNDS: 1 });
    expect(h.frames.rejected).toEqual({ PAYLOAD_MALFORMED: 3 });
    expect(h.meters).toEqual({ configured: 8, seen: 6, up: 0, stale: 7, down: 1 });
    for (const id of REPLAYED) {
      const m = h.meterStatus.find((s) => s.id === id)!;
      expect(m, id).toMatchObject({ driver: 'replay', state: 'stale', accepted: accepted(id) });
      expect(m.lastIntervalEnd, id).toBe(iso(Math.max(...rowsOf(id).map((r) => r.end))));
      expect(m.rejected, id).toEqual(id === 'm03' ? { READING_OUT_OF_BOUNDS: 1 } : {});
    }
    expect(h.meterStatus.find((m) => m.id === 'm06')).toMatchObject({
      driver: 'mqtt',
      accepted: 0,
      lastIntervalEnd: null,
      rejected: { PAYLOAD_MALFORMED: 3 },
    });
    expect(h.meterStatus.find((m) => m.id === 'm07')).toMatchObject({ driver: 'serial', state: 'down' });
    // Every decided interval's count is the CSV's (a health per second: each interval is seen in one or more).
    const counted = healths.filter((x) => Date.parse(x.readings.lastInterval.start) >= Date.parse(FROM));
    expect(new Set(counted.map((x) => x.readings.lastInterval.start)).size).toBeGreaterThan(15);
    for (const x of counted) {
      const start = Date.parse(x.readings.lastInterval.start);
      const want = rows.filter(
        (r) => r.end - I === start && REPLAYED.some((id) => byId(id).household === r.household),
      );
      const refused = start === BAD_END - I ? 1 : 0;
      expect(x.readings.lastInterval.accepted, x.readings.lastInterval.start).toBe(want.length - refused);
    }
    // tiny (one meter) is suppressed at every interval; north released while five meters report (not at 16:00).
    const groups = { released: 0, suppressed: 0 };
    for (const nb of ['north', 'tiny']) {
      const starts = new Map<number, number>();
      for (const id of REPLAYED.filter((m) => byId(m).neighbourhood === nb)) {
        for (const r of rowsOf(id)) {
          if (id === 'm03' && r.end === BAD_END) continue;
          starts.set(r.end - I, (starts.get(r.end - I) ?? 0) + 1);
        }
      }
      for (const n of starts.values()) groups[n >= 5 ? 'released' : 'suppressed']++;
    }
    expect(groups).toEqual({ released: 7, suppressed: 33 });
    expect(h.groups).toEqual(groups);
    // With no MDMS, batches pile up unacknowledged and the oldest gets older.
    const withBatches = healths.filter((x) => x.buffer.batches > 0);
    expect(withBatches.length).toBeGreaterThan(5);
    expect(h.buffer.batches).toBeGreaterThan(withBatches[0]!.buffer.batches);
    expect(h.buffer.oldestUnackedBatchAgeSeconds!).toBeGreaterThan(
      withBatches[0]!.buffer.oldestUnackedBatchAgeSeconds! + 5,
    );
    expect(h.buffer.outboxRecords).toBeGreaterThan(20);
    expect(h.buffer.pendingReadings).toBeGreaterThan(100);
    expect(h.disk!.availableBytes).toBeGreaterThan(0);
    expect(h.memory.rssBytes).toBeGreaterThan(h.memory.heapUsedBytes);
    expect(h.uptimeSeconds).toBeGreaterThan(10);

    // The Prometheus endpoint, scraped now, shows the same figures as the health message that follows.
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    seen.push(Buffer.from(scrape));
    const count = healths.length;
    await waitFor(() => healths.length > count, 10_000, 'the next health message');
    expectSameFigures(parsePrometheusText(scrape), healths.at(-1)!);

    // The MDMS arrives: its acknowledgements empty the buffer, and the health says so.
    const mdms = await startMdms(broker.url, keys, path.join(scenario.dir, 'mdms.sqlite'));
    stopMdms = () => mdms.receiver.stop();
    await waitFor(
      () => last().buffer.batches === 0 && last().buffer.outboxRecords === 0,
      60_000,
      'the acknowledged buffer',
      () => JSON.stringify(last().buffer),
    );
    expect(last().buffer.oldestUnackedBatchAgeSeconds).toBeNull();
    expect(last().buffer.pendingReadings).toBe(0);
    seen.push(Buffer.from(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()));

    // No plaintext reading, household id or JSON "wh" field in any health message or scrape.
    const layout = packingLayout(loadConfigFile(scenario.configFile), 2048);
    const needles = plaintextNeedles(rows, layout, isPeak);
    expect(needles.has('kWh text 25.000')).toBe(true);
    const everything = Buffer.concat(seen);
    expect(healths.length).toBeGreaterThan(20);
    expect(findNeedles(everything, needles)).toEqual([]);
    for (const m of METERS) expect(everything.includes(m.household), m.household).toBe(false);
    expect(gateway.child.exitCode).toBeNull();
  }, 240_000);
});

/** The figures that hold still once the data is over, in the scrape and in the health message. */
function expectSameFigures(p: Map<string, MetricFamily>, h: HealthBody): void {
  const at = (name: string, labels?: Record<string, string>) => sampleOf(p, name, labels);
  expect(at('meterspace_info', { gateway: GATEWAY_ID })).toBe(1);
  expect(at('meterspace_meters_configured')).toBe(h.meters.configured);
  expect(at('meterspace_meters_seen')).toBe(h.meters.seen);
  for (const state of ['up', 'stale', 'down'] as const)
    expect(at('meterspace_meters', { state })).toBe(h.meters[state]);
  expect(at('meterspace_readings_accepted_total')).toBe(h.readings.accepted);
  expect(at('meterspace_readings_rejected_total', { code: 'READING_OUT_OF_BOUNDS' })).toBe(1);
  expect(at('meterspace_frames_rejected_total', { code: 'PAYLOAD_MALFORMED' })).toBe(3);
  expect(at('meterspace_groups_total', { outcome: 'released' })).toBe(h.groups.released);
  expect(at('meterspace_groups_total', { outcome: 'suppressed' })).toBe(h.groups.suppressed);
  expect(at('meterspace_buffer_pending_readings')).toBe(h.buffer.pendingReadings);
  expect(at('meterspace_outbox_records')).toBe(h.buffer.outboxRecords);
  expect(at('meterspace_outbox_batches')).toBe(h.buffer.batches);
  const age = at('meterspace_outbox_oldest_unacked_batch_age_seconds');
  expect(Math.abs(age - h.buffer.oldestUnackedBatchAgeSeconds!)).toBeLessThanOrEqual(3);
  for (const m of h.meterStatus) {
    const labels = { meter: m.id, driver: m.driver };
    expect(at('meterspace_meter_state', { ...labels, state: m.state }), m.id).toBe(1);
    expect(at('meterspace_meter_readings_accepted_total', labels), m.id).toBe(m.accepted);
    for (const [code, n] of Object.entries(m.rejected)) {
      expect(at('meterspace_meter_rejected_total', { ...labels, code }), m.id).toBe(n);
    }
    if (m.lastIntervalEnd) {
      expect(at('meterspace_meter_last_interval_end_timestamp_seconds', labels)).toBe(
        Date.parse(m.lastIntervalEnd) / 1000,
      );
    }
  }
  expect(at('meterspace_disk_total_bytes')).toBe(h.disk!.totalBytes);
}

function csvOf(s: Scenario): string {
  return path.join(s.dir, 'slice.csv');
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
