/**
 * A normal broker stop, on a real Mosquitto (issue #20, 8): every reconnect fails with ECONNREFUSED; the log says
 * so once with the right hint (not the TLS hint of a connection closed unanswered), and again only for the next
 * outage. Counters count every failure.
 */
import { generateKeyPairSync } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { systemClock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('a broker stopped and started', () => {
  type Line = { msg: string; hint?: string; repeats?: number };
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const metrics = new Metrics();
  const buffer = openTestBuffer(97n * 97n, metrics);
  let uplink: Uplink | undefined;
  afterAll(async () => {
    await uplink?.stop();
    buffer.close();
  });

  it('logs each outage once, with the hint that fits, and counts every failed attempt', async () => {
    const broker = await startMosquitto();
    uplink = new Uplink(
      {
        url: broker.url,
        clientOptions: { clientId: 'gw-events', clean: true, reconnectPeriod: 50 },
        prefix: 'meterspace/v1',
        gatewayId: 'gw-events',
        retryInitialMs: 60_000,
        retryMaxMs: 60_000,
      },
      (url, opts) => mqtt.connect(url, opts),
      buffer,
      generateKeyPairSync('ed25519').publicKey,
      systemClock,
      metrics,
      log,
    );
    uplink.start();
    await waitFor(() => uplink!.connected, 10_000, 'connection');
    const said = (msg: string) => lines.filter((l) => l.msg === msg);

    for (const outage of [1, 2]) {
      const errors = metrics.get('uplink.errors');
      await broker.stop();
      await waitFor(() => metrics.get('uplink.errors') >= errors + 5, 20_000, 'five failed reconnects');
      expect(said('upstream connection error')).toHaveLength(outage);
      expect(said('upstream connection error').at(-1)!.hint).toContain('is the broker running');
      expect(said('upstream broker closed the connection before answering')).toEqual([]);
      await broker.restart();
      await waitFor(() => metrics.get('uplink.connects') === outage + 1, 20_000, 'reconnection');
    }
    await broker.stop();
  });
});
