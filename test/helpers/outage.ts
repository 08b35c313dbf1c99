/**
 * What the outage tests share: a broker that keeps sessions across its restart, a persistent watcher that sees
 * every health message and batch the gateway publishes (in publish order, also those published while the
 * watcher was still reconnecting), the gateway's configuration patched per test, the Prometheus endpoint
 * sampled during the outage (the only view of the gateway while the broker is down) and the buffer's files.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { openEnvelope } from '../../gateway/protocol/envelope.ts';
import { HealthBody } from '../../gateway/protocol/health-message.ts';
import { BatchBody, type BatchBodyMsg } from '../../gateway/protocol/messages.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { startHarness, type Harness } from './harness.ts';
import type { KeySet } from './keys.ts';
import { freePort } from './ports.ts';
import { parsePrometheusText, sampleOf } from './prometheus-text.ts';
import type { TestMeter } from './consumption.ts';
import { GATEWAY_ID, waitFor, type GatewayProcess } from './scenario.ts';

const PREFIX = 'meterspace/v1';

/**
 * Mosquitto lines for a broker that saves its sessions when stopped and restores them when started again, and
 * queues QoS 0 messages (health) for a persistent subscriber that is not connected at that moment.
 */
export function persistentBroker(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mosq-db-'));
  return `persistence true\npersistence_location ${dir}/\nqueue_qos0_messages true\n`;
}

/** Merges `sections` into the top-level sections of the gateway's YAML configuration. */
export function patchConfig(file: string, sections: Record<string, Record<string, unknown>>): void {
  const config = parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [key, value] of Object.entries(sections)) config[key] = { ...config[key], ...value };
  writeFileSync(file, stringify(config));
}

export interface Watcher {
  healths: { body: HealthBody; receivedAt: number }[];
  /** Every batch as published, in arrival order (re-sends included). */
  batches: BatchBodyMsg[];
  close(): Promise<void>;
}

/** A persistent-session subscriber (QoS 1) to the gateway's health and batch topics. */
export async function watchGateway(url: string, keys: KeySet): Promise<Watcher> {
  const client = await mqtt.connectAsync(url, {
    clientId: 'outage-watcher',
    clean: false,
    reconnectPeriod: 200,
  });
  const w: Watcher = { healths: [], batches: [], close: () => client.endAsync(true) };
  const healthTopic = topics.health(PREFIX, GATEWAY_ID);
  client.on('message', (topic, payload) => {
    const { body } = openEnvelope(payload, keys.gatewayPublicKey);
    if (topic === healthTopic) w.healths.push({ body: HealthBody.parse(body), receivedAt: Date.now() });
    else w.batches.push(BatchBody.parse(body));
  });
  await client.subscribeAsync([healthTopic, topics.batch(PREFIX, GATEWAY_ID)], { qos: 1 });
  return w;
}

export interface OutageRig {
  h: Harness;
  watcher: Watcher;
  /** The gateway's Prometheus endpoint. */
  port: number;
  /** Start of the data (ms). */
  from: number;
  /**
   * Starts the gateway and stops the broker as soon as the gateway is connected (its first health message
   * seen), before its first decision (the data clock is anchored to reach the data CUT_LEAD_MS after the
   * start): a gateway stalled by the machine's load only makes the outage cover more.
   */
  startThenCut(): Promise<GatewayProcess>;
  /** Starts the broker again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The harness on a persistent broker from 2012-10-09 for `days` of the data of `meters`, at 3600× (an hour of
 * data a second), with health every second, the metrics endpoint and the given `buffer` settings, and the
 * watcher subscribed. Graces of 12 and 14 hours: a gateway starved of CPU by a loaded machine may fall that far
 * behind the virtual clock before a reading would come too late for its group or its bill.
 */
export async function startOutageRig(
  buffer: Record<string, number>,
  o: { days: number; meters: TestMeter[] },
): Promise<OutageRig> {
  const from = Date.parse('2012-10-09T00:00:00Z');
  const h = await startHarness(
    {
      from: new Date(from).toISOString(),
      to: new Date(from + o.days * 86_400_000).toISOString(),
      speed: 3600,
      meters: o.meters,
      graceMinutes: { intervals: 720, billing: 840 },
    },
    persistentBroker(),
  );
  const port = await freePort();
  patchConfig(h.scenario.configFile, {
    observe: { healthSeconds: 1, metrics: { listen: String(port) } },
    buffer,
  });
  const watcher = await watchGateway(h.broker.url, h.keys);
  let down = false;
  return {
    h,
    watcher,
    port,
    from,
    startThenCut: async () => {
      // The data clock reaches the data's start CUT_LEAD_MS after the spawn: under load a gateway was seen
      // connecting (and the broker stopping) 22 s after its clock started, 38 groups delivered before the cut.
      patchConfig(h.scenario.configFile, {
        clock: { anchor: new Date(Date.now() + CUT_LEAD_MS).toISOString() },
      });
      const gateway = h.spawn();
      await waitFor(() => watcher.healths.length > 0, 180_000, 'the first health message');
      await h.broker.stop();
      down = true;
      return gateway;
    },
    restore: async () => {
      await h.broker.restart();
      down = false;
    },
    close: async () => {
      await watcher.close();
      // A failure during the outage leaves the broker down: the MDMS client ends cleanly only against a broker.
      if (down) await h.broker.restart();
      await h.close();
    },
  };
}

/** From the gateway's start to its data clock reaching the data: room for a slow start on a loaded machine. */
const CUT_LEAD_MS = 20_000;

/** The figures of one scrape of the Prometheus endpoint that an outage moves. */
export interface Scrape {
  at: number;
  /** The newest interval the aggregator decided (data clock, ms). */
  dataAt: number;
  pendingReadings: number;
  outboxRecords: number;
  unbatchedRecords: number;
  batches: number;
  oldestBatchAgeSeconds: number;
  full: number;
  notAggregated: number;
  dropped: { aggregate: number; suppressed: number };
  /** Groups decided and bills released since the start. */
  groups: number;
  bills: number;
  /** The buffer's SQLite file and its WAL, in bytes. */
  dbBytes: number;
  walBytes: number;
}

export async function scrape(port: number, dbFile: string): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const f = parsePrometheusText(text);
  const at = (name: string, labels?: Record<string, string>) => sampleOf(f, name, labels);
  return {
    at: Date.now(),
    dataAt: at('meterspace_readings_last_interval_end_timestamp_seconds') * 1000,
    pendingReadings: at('meterspace_buffer_pending_readings'),
    outboxRecords: at('meterspace_outbox_records'),
    unbatchedRecords: at('meterspace_outbox_unbatched_records'),
    batches: at('meterspace_outbox_batches'),
    oldestBatchAgeSeconds: at('meterspace_outbox_oldest_unacked_batch_age_seconds'),
    full: at('meterspace_buffer_full'),
    notAggregated: at('meterspace_readings_not_aggregated_total'),
    dropped: {
      aggregate: at('meterspace_outbox_dropped_total', { kind: 'aggregate' }),
      suppressed: at('meterspace_outbox_dropped_total', { kind: 'suppressed' }),
    },
    groups:
      at('meterspace_groups_total', { outcome: 'released' }) +
      at('meterspace_groups_total', { outcome: 'suppressed' }),
    bills:
      f.get('meterspace_events_total')?.samples.find((x) => x.labels.counter === 'bills.released')?.value ??
      0,
    dbBytes: sizeOf(dbFile),
    walBytes: sizeOf(`${dbFile}-wal`),
  };
}

/** Scrapes every `everyMs` until `until` holds for a scrape (or the deadline passes); returns them all. */
export async function sampleUntil(
  port: number,
  dbFile: string,
  until: (s: Scrape) => boolean,
  timeoutMs: number,
  everyMs = 500,
): Promise<Scrape[]> {
  const samples: Scrape[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(port, dbFile);
    samples.push(s);
    if (until(s)) return samples;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms; last scrape ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The first appearance of each batch, in arrival order: the order in which the gateway sent them first. */
export function firstSends(batches: BatchBodyMsg[]): BatchBodyMsg[] {
  const seen = new Set<number>();
  return batches.filter((b) => !seen.has(b.seq) && seen.add(b.seq));
}
