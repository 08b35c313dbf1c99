/**
 * The uplink against a real Mosquitto: batches are published with QoS 1, re-sent until acknowledged, and only a
 * genuine acknowledgement (right MDMS key, gateway, batch id and body digest) deletes anything.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { Batcher } from '../../../gateway/batch/batcher.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { digest, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { systemClock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/scenario.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { queueSuppressedBatch } from '../../helpers/ack-rig.ts';

const PREFIX = 'meterspace/v1';
const GW = 'gw-uplink';

describe('Uplink with Mosquitto', () => {
  let broker: Mosquitto;
  let buffer: BufferStore;
  let uplink: Uplink;
  let mdms: mqtt.MqttClient;
  const metrics = new Metrics();
  const received: string[] = [];
  const mdmsKey = generateKeyPairSync('ed25519');
  const gatewayKey = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    broker = await startMosquitto();
    buffer = openTestBuffer(97n * 97n, metrics);
    mdms = await mqtt.connectAsync(broker.url);
    await mdms.subscribeAsync(topics.batch(PREFIX, GW), { qos: 1 });
    mdms.on('message', (_t, payload) => received.push(payload.toString()));
    uplink = new Uplink(
      {
        url: broker.url,
        clientOptions: { clientId: 'gw-uplink-test', clean: false },
        prefix: PREFIX,
        gatewayId: GW,
        retryInitialMs: 300,
        retryMaxMs: 600,
      },
      (url, opts) => mqtt.connect(url, opts),
      buffer,
      mdmsKey.publicKey,
      systemClock,
      metrics,
      silentLogger(),
    );
    uplink.start();
    await waitFor(() => uplink.connected, 10_000, 'uplink connection');
  });

  afterAll(async () => {
    await uplink?.stop();
    await mdms?.endAsync();
    buffer?.close();
    await broker?.stop();
  });

  function queueBatch(id: string) {
    const batcher = new Batcher(
      { gatewayId: GW, maxRecordsPerBatch: 10 },
      { privateKey: gatewayKey.privateKey, publicKey: gatewayKey.publicKey },
      buffer,
      metrics,
      silentLogger(),
    );
    return queueSuppressedBatch(buffer, batcher, id);
  }

  function ack(body: object, key = mdmsKey) {
    const sealed = signEnvelope(body, key.privateKey, createPublicKey(key.privateKey));
    return mdms.publishAsync(topics.ack(PREFIX, GW), sealed.message, { qos: 1 });
  }

  it('re-sends an unacknowledged batch and stops once a genuine ack arrives', async () => {
    const batch = queueBatch('agg:n:1');
    uplink.sendDue();
    await waitFor(() => received.filter((m) => m === batch.message).length >= 2, 10_000, 'a re-send');

    const good = {
      v: 1,
      type: 'ack',
      gateway: GW,
      batchId: batch.batchId,
      bodyDigest: batch.bodyDigest,
      ackedAt: '2026-01-01T00:00:00Z',
    };
    // Forged (signed by another key), malformed, wrong digest, other gateway: none deletes the batch.
    await ack(good, generateKeyPairSync('ed25519'));
    await mdms.publishAsync(topics.ack(PREFIX, GW), '{"not": "an envelope"', { qos: 1 });
    await ack({ ...good, bodyDigest: digest('something else') });
    await ack({ ...good, gateway: 'gw-other' });
    // The four arrive in order, but under load the last may still be in flight when the third is counted.
    await waitFor(
      () => metrics.get('acks.digest-mismatch') === 1 && metrics.get('acks.rejected.MESSAGE_MALFORMED') === 2,
      5_000,
      'the wrong-digest and other-gateway acks',
    );
    expect(metrics.get('acks.rejected.SIGNATURE_INVALID')).toBe(1);
    expect(metrics.get('acks.rejected.MESSAGE_MALFORMED')).toBe(2);
    expect(buffer.outbox.batch(batch.batchId)).toBeDefined();

    await ack(good);
    await waitFor(() => buffer.outbox.batch(batch.batchId) === undefined, 5_000, 'the batch deleted');
    expect(buffer.outbox.counts()).toEqual({ records: 0, unbatched: 0, batches: 0 });
    const sent = received.filter((m) => m === batch.message).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(received.filter((m) => m === batch.message).length).toBe(sent);
    // A replayed ack is harmless.
    await ack(good);
    await waitFor(() => metrics.get('acks.unknown') === 1, 5_000, 'the replayed ack');
  });
});
