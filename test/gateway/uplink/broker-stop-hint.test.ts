/**
 * A broker stopped the normal way (SIGTERM: `systemctl restart mosquitto`, an upgrade) is not a TLS problem: the
 * uplink's log lines while it is away must not tell the technician to switch to mqtts:// (issue #20, item 8).
 * A real Mosquitto on a plain port; MQTT 3.1.1 and 5.
 */
import { generateKeyPairSync } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { systemClock } from '../../../gateway/time/clock.ts';
import { Uplink } from '../../../gateway/uplink/uplink.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('the uplink when its broker is stopped', () => {
  let broker: Mosquitto | undefined;
  let uplink: Uplink | undefined;
  afterEach(async () => {
    await uplink?.stop();
    await broker?.stop();
  });

  for (const protocolVersion of [4, 5] as const) {
    it(`logs no TLS hint (MQTT ${protocolVersion === 4 ? '3.1.1' : '5'})`, async () => {
      broker = await startMosquitto();
      const lines: string[] = [];
      const log = pino({ level: 'debug', base: undefined }, { write: (l: string) => lines.push(l) });
      const metrics = new Metrics();
      uplink = new Uplink(
        {
          url: broker.url,
          clientOptions: { clientId: `gw-stop-${protocolVersion}`, protocolVersion, reconnectPeriod: 100 },
          prefix: 'meterspace/v1',
          gatewayId: 'gw-stop',
          retryInitialMs: 300,
          retryMaxMs: 600,
        },
        (url, opts) => mqtt.connect(url, opts),
        openTestBuffer(97n * 97n, metrics),
        generateKeyPairSync('ed25519').publicKey,
        systemClock,
        metrics,
        log,
      );
      uplink.start();
      await waitFor(() => uplink!.connected, 10_000, 'the uplink to connect');
      await broker.stop();
      // Several reconnection attempts against the stopped broker, each counted; the first logged with its hint
      // (the rest of the outage is rate-limited: connection-events.ts).
      await waitFor(() => metrics.get('uplink.errors') >= 2, 10_000, 'retries');
      expect(lines.filter((l) => l.includes('ECONNREFUSED'))).toHaveLength(1);
      await broker.restart();
      await waitFor(() => uplink!.connected, 10_000, 'the uplink to reconnect');
      expect(lines.some((l) => l.includes('upstream broker unreachable'))).toBe(true);
      expect(lines.filter((l) => /mqtts:\/\/|TLS|tls\./.test(l))).toEqual([]);
    }, 30_000);
  }
});
