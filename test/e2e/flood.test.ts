/**
 * A flood of the gateway's inbound topics (issue #14 C) by a client holding no key, against a real gateway process
 * replaying a day of the real data through a real Mosquitto that sets no size limit of its own. The gateway speaks
 * MQTT 3.1.1 here, the case where the broker delivers whatever it is given and only the gateway's own cut-off
 * (gateway/uplink/packet-size-guard.ts) stands between a 100 MB message and its memory; on MQTT 5 a compliant broker
 * does not even send it (test/gateway/uplink/mqtt-options.test.ts).
 *
 * What must hold: the gateway's resident memory grows by less than FLOOD_RSS_BOUND over its level before the flood
 * (unguarded, mqtt.js would hold each 100 MB packet whole, then copy it: > 200 MB), every refusal is counted with its
 * code, and the data path keeps running: the MDMS receives exactly every expected release and bill.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../gateway/protocol/topics.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { makeKeySet, type KeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { freePort } from '../helpers/ports.ts';
import { parsePrometheusText } from '../helpers/prometheus-text.ts';
import {
  GATEWAY_ID,
  makeScenario,
  mdmsComplete,
  spawnGateway,
  startMdms,
  waitFor,
  type GatewayProcess,
  type Scenario,
} from '../helpers/scenario.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';

const PREFIX = 'meterspace/v1';
const MiB = 1024 * 1024;
/** The stated bound (docs/reliability.md): resident memory growth of the gateway through the whole flood. */
const FLOOD_RSS_BOUND = 64 * MiB;
const HUGE = 100 * MiB;
const BIG_MESSAGES = 6;
const JUNK_PER_TOPIC = 100;
const INBOUND = [
  topics.ack(PREFIX, GATEWAY_ID),
  topics.customerRequest(PREFIX, GATEWAY_ID),
  topics.configRequest(PREFIX, GATEWAY_ID),
];

/** Resident set size of a process in bytes (/proc/<pid>/status, VmRSS in kB). */
function rssOf(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? NaN) * 1024;
}

describe('a flood of the inbound topics by a client holding no key', () => {
  let broker: Mosquitto;
  let keys: KeySet;
  let scenario: Scenario;
  let gateway: GatewayProcess;
  let store: MdmsStore;
  let stopMdms: () => Promise<void>;
  let attacker: mqtt.MqttClient;
  let sampler: NodeJS.Timeout | undefined;
  let metricsPort: number;
  /** The gateway's counters (meterspace_events_total by name) at the last scrape. */
  let counters = new Map<string, number>();
  let peakRss = 0;
  let baselineRss = 0;

  const counter = (name: string) => counters.get(name) ?? 0;
  const sumOf = (prefix: string) =>
    [...counters].filter(([n]) => n.startsWith(prefix)).reduce((s, [, v]) => s + v, 0);

  beforeAll(async () => {
    broker = await startMosquitto();
    keys = await makeKeySet();
    metricsPort = await freePort();
    scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: '2012-10-10T00:00:00Z',
      to: '2012-10-11T00:00:00Z',
      speed: 1200,
      upstream: { protocolVersion: 4, maxPacketBytes: 256 * 1024 },
      // Remote configuration on, so that its topic is subscribed and flooded too (any Ed25519 key the attacker
      // does not hold will do: the MDMS's public key).
      keysExtra: { operatorPublic: keys.files.mdmsPublic },
    });
    const config = parse(readFileSync(scenario.configFile, 'utf8')) as Record<string, unknown>;
    config.observe = { healthSeconds: 0, metrics: { listen: String(metricsPort) } };
    writeFileSync(scenario.configFile, stringify(config));
    const mdms = await startMdms(broker.url, keys, `${scenario.dir}/mdms.sqlite`);
    store = mdms.store;
    stopMdms = () => mdms.receiver.stop();
    gateway = spawnGateway(scenario.configFile);
    const pid = gateway.child.pid!;
    let scraping = false;
    sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssOf(pid));
      if (scraping) return;
      scraping = true;
      fetch(`http://127.0.0.1:${metricsPort}/metrics`)
        .then(async (r) => {
          const family = parsePrometheusText(await r.text()).get('meterspace_events_total');
          counters = new Map(family?.samples.map((s) => [s.labels.counter!, s.value]));
        })
        .catch(() => undefined) // not listening yet
        .finally(() => (scraping = false));
    }, 100);
    attacker = await mqtt.connectAsync(broker.url, { clientId: 'flooder' });
  }, 60_000);

  afterAll(async () => {
    clearInterval(sampler);
    gateway?.child.kill('SIGKILL');
    await attacker?.endAsync(true);
    await stopMdms?.();
    await broker?.stop();
  });

  it('keeps its memory bounded, counts every refusal and delivers every release and bill', async () => {
    const diag = () =>
      `${JSON.stringify(Object.fromEntries(counters))}\n${readFileSync(scenario.logFile, 'utf8').slice(-3000)}`;
    // The data path runs: the first releases have arrived.
    await waitFor(() => store.counts().aggregates > 0, 60_000, 'a first release at the MDMS', diag);
    await waitFor(() => counter('uplink.connects') > 0, 10_000, 'a first scrape', diag);
    baselineRss = rssOf(gateway.child.pid!);
    peakRss = baselineRss;

    // Junk: QoS 1, so the broker keeps it for the gateway across a reconnection and every one is delivered.
    for (const topic of INBOUND) {
      for (let i = 0; i < JUNK_PER_TOPIC; i++) attacker.publish(topic, `{"junk":${i}}`, { qos: 1 });
    }
    await waitFor(
      () =>
        sumOf('acks.rejected.') >= JUNK_PER_TOPIC &&
        sumOf('customer.rejected.') >= JUNK_PER_TOPIC &&
        sumOf('config.rejected.') >= JUNK_PER_TOPIC,
      60_000,
      'every junk message refused and counted',
      diag,
    );

    // Six 100 MB messages, two per inbound topic, each sent while the gateway is connected (QoS 0: a broker does
    // not keep them for an absent client, so each is delivered at most once).
    const huge = Buffer.alloc(HUGE, 0x7b);
    for (let i = 0; i < BIG_MESSAGES; i++) {
      const connects = counter('uplink.connects');
      await attacker.publishAsync(INBOUND[i % INBOUND.length]!, huge, { qos: 0 });
      await waitFor(
        () => counter('uplink.inbound_too_large') >= i + 1,
        60_000,
        `big message ${i + 1} refused`,
        diag,
      );
      await waitFor(() => counter('uplink.connects') > connects, 60_000, 'the gateway back online', diag);
    }

    await waitFor(() => mdmsComplete(store, scenario.expected), 180_000, 'every record at the MDMS', diag);
    expectExactlyExpected(store, scenario.expected);
    const growth = peakRss - baselineRss;
    console.log(
      `flood: RSS before ${(baselineRss / MiB).toFixed(1)} MiB, peak ${(peakRss / MiB).toFixed(1)} MiB, ` +
        `growth ${(growth / MiB).toFixed(1)} MiB (bound ${FLOOD_RSS_BOUND / MiB} MiB); ` +
        `${counter('uplink.inbound_too_large')} cut-offs, ${counter('uplink.connects')} connections`,
    );
    expect(growth).toBeLessThan(FLOOD_RSS_BOUND);
    // Mosquitto re-sends a message it was writing when a persistent session's connection ended: each big message
    // may be cut off more than once, never read.
    expect(counter('uplink.inbound_too_large')).toBeGreaterThanOrEqual(BIG_MESSAGES);
    const log = readFileSync(scenario.logFile, 'utf8');
    expect(log).toContain('"code":"PACKET_TOO_LARGE"');
    // Logged once per episode and every 100th after, not once per cut-off.
    expect(log.split('"code":"PACKET_TOO_LARGE"').length - 1).toBeLessThan(
      counter('uplink.inbound_too_large'),
    );
    expect(gateway.child.exitCode).toBeNull();
  }, 400_000);
});
