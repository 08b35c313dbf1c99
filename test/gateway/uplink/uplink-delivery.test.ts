/**
 * The uplink on a real Mosquitto (issue #20, 7–8): re-sends follow the MDMS's ack latency (a manual clock decides
 * when a re-send is due: nothing here sleeps to prove one did not happen), and a broker whose ACL denies the
 * batch topic is reported with its MQTT 5 reason code, while under MQTT 3.1.1 the same denial looks like success.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Batcher } from '../../../gateway/batch/batcher.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { queueSuppressedBatch } from '../../helpers/ack-rig.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';

const PREFIX = 'meterspace/v1';
const S = 1000;

interface Rig {
  broker: Mosquitto;
  buffer: BufferStore;
  uplink: Uplink;
  metrics: Metrics;
  clock: ManualClock;
  batcher: Batcher;
}

const rigs: Rig[] = [];
const clients: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const r of rigs.splice(0)) {
    await r.uplink.stop();
    r.buffer.close();
    await r.broker.stop();
  }
});

const mdmsKey = generateKeyPairSync('ed25519');
const gatewayKey = generateKeyPairSync('ed25519');

async function rig(gw: string, protocolVersion: 4 | 5, brokerConfig = ''): Promise<Rig> {
  const broker = await startMosquitto(brokerConfig);
  const metrics = new Metrics();
  const buffer = openTestBuffer(97n * 97n, metrics);
  const clock = new ManualClock(Date.UTC(2026, 11, 8));
  const uplink = new Uplink(
    {
      url: broker.url,
      clientOptions: { clientId: gw, clean: true, protocolVersion },
      prefix: PREFIX,
      gatewayId: gw,
      retryInitialMs: 5 * S,
      retryMaxMs: 600 * S,
    },
    (url, opts) => mqtt.connect(url, opts),
    buffer,
    mdmsKey.publicKey,
    clock,
    metrics,
    silentLogger(),
    // Jitter at its lowest (−20 %): the earliest re-sends.
    { random: () => 0 },
  );
  uplink.start();
  await waitFor(() => uplink.connected, 10_000, 'uplink connection');
  const batcher = new Batcher(
    { gatewayId: gw, maxRecordsPerBatch: 10 },
    { privateKey: gatewayKey.privateKey, publicKey: gatewayKey.publicKey },
    buffer,
    metrics,
    silentLogger(),
  );
  const r = { broker, buffer, uplink, metrics, clock, batcher };
  rigs.push(r);
  return r;
}

describe('re-sends paced by the MDMS', () => {
  it('an MDMS that acks after 20 s gets later batches once, not three times', async () => {
    const gw = 'gw-slow-mdms';
    const { broker, buffer, uplink, metrics, clock, batcher } = await rig(gw, 5);
    const mdms = await mqtt.connectAsync(broker.url, { clientId: 'slow-mdms' });
    clients.push(mdms);
    const received = new Map<string, number>();
    await mdms.subscribeAsync(topics.batch(PREFIX, gw), { qos: 1 });
    mdms.on('message', (_t, payload) => {
      const id = (
        JSON.parse((JSON.parse(payload.toString()) as { body: string }).body) as { batchId: string }
      ).batchId;
      received.set(id, (received.get(id) ?? 0) + 1);
    });
    const published = () => metrics.get('batches.sent') + metrics.get('batches.resent');

    /** One batch, driven second by second on the manual clock; the MDMS acks 20 s after the first send. */
    async function deliver(recordId: string): Promise<number> {
      const batch = queueSuppressedBatch(buffer, batcher, recordId);
      // The batch is due from the real time it was made at; the manual clock takes over from there.
      const start = Math.max(clock.now(), Date.now()) + S;
      for (let t = 0; t < 20; t++) {
        clock.set(start + t * S);
        const before = buffer.outbox.batch(batch.batchId)!.attempts;
        uplink.sendDue();
        const after = buffer.outbox.batch(batch.batchId)!.attempts;
        if (after > before) {
          const target = published() + (after - before);
          await waitFor(
            () => published() >= target && (received.get(batch.batchId) ?? 0) >= after,
            10_000,
            'send',
          );
        }
      }
      clock.set(start + 20 * S);
      const ack = {
        v: 1,
        type: 'ack',
        gateway: gw,
        batchId: batch.batchId,
        bodyDigest: batch.bodyDigest,
        ackedAt: '2026-12-08T00:00:20Z',
      };
      await mdms.publishAsync(
        topics.ack(PREFIX, gw),
        signEnvelope(ack, mdmsKey.privateKey, mdmsKey.publicKey).message,
        { qos: 1 },
      );
      await waitFor(() => buffer.outbox.batch(batch.batchId) === undefined, 10_000, 'the ack applied');
      return received.get(batch.batchId)!;
    }

    // Nothing learnt yet: the configured 5 s first retry (the triple send).
    expect(await deliver('agg:n:1')).toBe(3);
    expect(uplink.ackLatencyMs()).toBe(20 * S);
    expect(await deliver('agg:n:2')).toBe(1);
    expect(await deliver('agg:n:3')).toBe(1);
    expect(uplink.delivery.snapshot().ackLatencySeconds).toBe(20);
  });
});

describe('a broker that refuses the batch topic (ACL)', () => {
  /** Mosquitto with an ACL letting the gateway do everything but publish batches. */
  function denyBatches(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'acl-'));
    // Mosquitto started as root reads it as its own user.
    chmodSync(dir, 0o755);
    const acl = path.join(dir, 'acl');
    writeFileSync(acl, `topic read ${PREFIX}/gw/+/ack\ntopic readwrite ${PREFIX}/gw/+/status\n`, {
      mode: 0o644,
    });
    return `acl_file ${acl}`;
  }

  it('MQTT 5: the PUBACK reason code 0x87 is an error, counted and in health; the batch stays pending', async () => {
    const { buffer, uplink, metrics, batcher, clock } = await rig('gw-acl-5', 5, denyBatches());
    const batch = queueSuppressedBatch(buffer, batcher, 'agg:n:1');
    clock.set(Date.now() + S);
    uplink.sendDue();
    await waitFor(() => metrics.get('batches.refused_by_broker') === 1, 10_000, 'the refusal');
    expect(metrics.get('batches.refused_by_broker.NOT_AUTHORIZED')).toBe(1);
    expect(metrics.get('batches.sent')).toBe(0);
    expect(uplink.delivery.snapshot()).toMatchObject({
      brokerRefused: 1,
      lastBrokerRefusal: { reasonCode: 0x87, reason: 'Not authorized' },
    });
    expect(buffer.outbox.batch(batch.batchId)).toMatchObject({ attempts: 1 });
  });

  it('MQTT 3.1.1: the broker acknowledges the denied publish; nothing can tell (docs/reliability.md)', async () => {
    const { buffer, uplink, metrics, batcher, clock } = await rig('gw-acl-4', 4, denyBatches());
    queueSuppressedBatch(buffer, batcher, 'agg:n:1');
    clock.set(Date.now() + S);
    uplink.sendDue();
    await waitFor(() => metrics.get('batches.sent') === 1, 10_000, 'the "successful" publish');
    expect(metrics.get('batches.refused_by_broker')).toBe(0);
    expect(uplink.delivery.snapshot().lastBrokerRefusal).toBeNull();
  });
});
