/**
 * Re-sends across a step of the system clock (issue #7, 4), on a real Mosquitto: with the clocks the gateway wires
 * (back-off on the monotonic clock, the calendar only for timestamps) an unacknowledged batch keeps being re-sent
 * when NTP steps the system clock back two hours; on the calendar alone its next attempt would lie two hours away.
 */
import { generateKeyPairSync } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Batcher } from '../../../gateway/batch/batcher.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { monotonicClock, systemClock, type Clock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { queueSuppressedBatch } from '../../helpers/ack-rig.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';

const PREFIX = 'meterspace/v1';
const H = 3_600_000;

describe('re-sends when the system clock is stepped back', () => {
  let broker: Mosquitto;
  let mdms: mqtt.MqttClient;
  const received = new Map<string, number>();
  const gatewayKey = generateKeyPairSync('ed25519');
  const open: { uplink: Uplink; buffer: BufferStore }[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    mdms = await mqtt.connectAsync(broker.url);
    await mdms.subscribeAsync(topics.batch(PREFIX, '+'), { qos: 1 });
    mdms.on('message', (_t, payload) => {
      const id = (JSON.parse(payload.toString()) as { body: string }).body;
      received.set(id, (received.get(id) ?? 0) + 1);
    });
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    for (const { uplink, buffer } of open) {
      await uplink.stop();
      buffer.close();
    }
    await mdms?.endAsync();
    await broker?.stop();
  });

  /** An uplink of gateway `gw` on `clocks`, with one batch sent once and not acknowledged (no MDMS answers). */
  async function sentOnce(gw: string, clocks: Clock | { elapsed: Clock; calendar: Clock }) {
    const metrics = new Metrics();
    const buffer = openTestBuffer(97n * 97n, metrics);
    const uplink = new Uplink(
      {
        url: broker.url,
        clientOptions: { clientId: gw, clean: true },
        prefix: PREFIX,
        gatewayId: gw,
        retryInitialMs: 300,
        retryMaxMs: 600,
      },
      (url, opts) => mqtt.connect(url, opts),
      buffer,
      generateKeyPairSync('ed25519').publicKey,
      clocks,
      metrics,
      silentLogger(),
    );
    open.push({ uplink, buffer });
    uplink.start();
    await waitFor(() => uplink.connected, 10_000, 'uplink connection');
    const batcher = new Batcher(
      { gatewayId: gw, maxRecordsPerBatch: 10, maxBatchedRecords: 100 },
      { privateKey: gatewayKey.privateKey, publicKey: gatewayKey.publicKey },
      buffer,
      metrics,
      silentLogger(),
    );
    const batch = queueSuppressedBatch(buffer, batcher, `agg:${gw}:1`);
    const body = (JSON.parse(batch.message) as { body: string }).body;
    uplink.sendDue();
    await waitFor(() => (received.get(body) ?? 0) >= 1, 10_000, 'the first send');
    return { metrics, sends: () => received.get(body) ?? 0 };
  }

  /** NTP steps the system clock back by two hours. */
  function stepBack(): void {
    const real = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => real() - 2 * H);
  }

  it('keeps re-sending on the monotonic clock', async () => {
    const run = await sentOnce('gw-step-mono', { elapsed: monotonicClock, calendar: systemClock });
    stepBack();
    // Counted by the gateway, not by deliveries: the broker may deliver a QoS 1 message twice.
    await waitFor(
      () => run.metrics.get('batches.resent') >= 2 && run.sends() >= 3,
      20_000,
      'two re-sends after the step',
    );
  });

  it('(control) on the calendar alone the next attempt lies two hours away', async () => {
    const run = await sentOnce('gw-step-calendar', systemClock);
    stepBack();
    // Well past the 0.6 s back-off: a re-send now would be the bug's absence, and the control would be moot.
    await new Promise((r) => setTimeout(r, 3000));
    expect(run.sends()).toBe(1);
  });
});
