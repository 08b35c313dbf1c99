/**
 * The upstream acknowledgement handler as the gateway runs it: the real Uplink on a real Mosquitto, applying acks
 * to a real SQLite buffer whose outbox holds batches signed by the real Batcher, and a client publishing on the
 * ack topic as the MDMS (or an attacker) would. Every message on the ack topic is counted exactly once (`acks.*`),
 * which is how a test waits for it. For the forged/replayed, fuzz and bounded-memory tests (issue #7, 7–8).
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import mqtt from 'mqtt';
import { Batcher } from '../../gateway/batch/batcher.ts';
import type { BufferStore } from '../../gateway/buffer/buffer.ts';
import type { StoredBatch } from '../../gateway/buffer/outbox-store.ts';
import { silentLogger } from '../../gateway/observe/log.ts';
import { Metrics } from '../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../gateway/protocol/envelope.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { systemClock } from '../../gateway/time/clock.ts';
import { Uplink } from '../../gateway/uplink/uplink.ts';
import { openTestBuffer } from './buffer.ts';
import { counted } from './fuzz.ts';
import { startMosquitto } from './mosquitto.ts';
import { waitFor } from './wait.ts';

export const ACK_PREFIX = 'meterspace/v1';
export const ACK_GW = 'gw-acks';
const WAIT_MS = 30_000;

/** A signed batch of one `suppressed` record with id `id`, stored in the outbox as the gateway makes it. */
export function queueSuppressedBatch(buffer: BufferStore, batcher: Batcher, id: string): StoredBatch {
  buffer.outbox.add({
    recordId: id,
    kind: 'suppressed',
    body: JSON.stringify({
      kind: 'suppressed',
      id,
      neighbourhood: 'n',
      intervalStart: '2012-10-10T00:00:00Z',
      intervalEnd: '2012-10-10T00:30:00Z',
      reason: 'below-k',
      k: 5,
    }),
    createdAt: Date.now(),
  });
  return batcher.flush(Date.now())[0]!;
}

export async function ackRig() {
  const broker = await startMosquitto();
  const metrics = new Metrics();
  const buffer = openTestBuffer(97n * 97n, metrics);
  const mdmsKey = generateKeyPairSync('ed25519');
  const gatewayKey = generateKeyPairSync('ed25519');
  const uplink = new Uplink(
    {
      url: broker.url,
      clientOptions: { clientId: `gw-acks-${process.pid}`, clean: true },
      prefix: ACK_PREFIX,
      gatewayId: ACK_GW,
      // Batches are not the subject here: re-sends rarely.
      retryInitialMs: 60_000,
      retryMaxMs: 60_000,
    },
    (url, opts) => mqtt.connect(url, opts),
    buffer,
    mdmsKey.publicKey,
    systemClock,
    metrics,
    silentLogger(),
  );
  uplink.start();
  await waitFor(() => uplink.connected, WAIT_MS, 'uplink connection');
  const mdms = await mqtt.connectAsync(broker.url, { clientId: `mdms-acks-${process.pid}` });
  const batcher = new Batcher(
    { gatewayId: ACK_GW, maxRecordsPerBatch: 10 },
    { privateKey: gatewayKey.privateKey, publicKey: gatewayKey.publicKey },
    buffer,
    metrics,
    silentLogger(),
  );

  const queueBatch = (id: string) => queueSuppressedBatch(buffer, batcher, id);
  /** The genuine ack body of a batch. */
  const ackBody = (batch: { batchId: string; bodyDigest: string }) => ({
    v: 1,
    type: 'ack',
    gateway: ACK_GW,
    batchId: batch.batchId,
    bodyDigest: batch.bodyDigest,
    ackedAt: '2026-01-01T00:00:00Z',
  });
  /** An ack message signed by `key` (the MDMS's by default). */
  const signedAck = (body: unknown, key: KeyObject = mdmsKey.privateKey) =>
    signEnvelope(body, key, createPublicKey(key)).message;

  /** Every message on the ack topic so far: applied, unknown, digest mismatch or rejected by code. */
  const handled = () => counted(metrics, 'acks.');
  const diag = () => JSON.stringify(metrics.snapshot());
  /** Publishes payloads on the ack topic (QoS 1, in order) and waits until the uplink has handled them all. */
  const send = async (...payloads: (string | Buffer)[]) => {
    const target = handled() + payloads.length;
    await Promise.all(payloads.map((p) => mdms.publishAsync(topics.ack(ACK_PREFIX, ACK_GW), p, { qos: 1 })));
    await waitFor(() => handled() >= target, WAIT_MS, `${payloads.length} acks handled`, diag);
  };
  /** What no refused ack may change: the batches in the outbox and their records. */
  const state = () => ({
    batches: buffer.db.prepare('SELECT batch_id, message, body_digest FROM batches ORDER BY 1').all(),
    counts: buffer.outbox.counts(),
  });
  const close = async () => {
    await mdms.endAsync(true);
    await uplink.stop();
    buffer.close();
    await broker.stop();
  };
  return { metrics, buffer, queueBatch, ackBody, signedAck, send, handled, state, close };
}
