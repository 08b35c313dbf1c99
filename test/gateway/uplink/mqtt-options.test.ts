/**
 * The upstream connection options against a real Mosquitto (issue #14 C): on MQTT 5 the gateway announces
 * upstream.maxPacketBytes, and the broker then never sends it a larger message (MQTT 5.0 §3.1.2.11.4), so nothing
 * even reaches the gateway's own cut-off; the session outlives the connection as 3.1.1's clean = false did; and
 * protocolVersion 4 is still spoken for old brokers.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../../gateway/config/schema.ts';
import { guardedConnect } from '../../../gateway/uplink/packet-size-guard.ts';
import { mqttOptions } from '../../../gateway/uplink/mqtt-options.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';

const upstream = (url: string, over: Record<string, unknown> = {}) =>
  ConfigSchema.shape.upstream.parse({ url, maxPacketBytes: 64 * 1024, ...over });

describe('mqttOptions against Mosquitto', () => {
  let broker: Mosquitto;
  let sender: mqtt.MqttClient;
  const clients: mqtt.MqttClient[] = [];
  beforeAll(async () => {
    broker = await startMosquitto();
    sender = await mqtt.connectAsync(broker.url, { clientId: 'sender' });
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await sender.endAsync(true);
    await broker.stop();
  });

  it('defaults to MQTT 5 with maximumPacketSize and a session that does not expire', () => {
    const opts = mqttOptions(upstream('mqtt://x'), 'gw');
    expect(opts.protocolVersion).toBe(5);
    expect(opts.properties).toEqual({ maximumPacketSize: 64 * 1024, sessionExpiryInterval: 0xffffffff });
    expect(ConfigSchema.shape.upstream.parse({ url: 'mqtt://x' }).maxPacketBytes).toBe(2 * 1024 * 1024);
    const old = mqttOptions(upstream('mqtt://x', { protocolVersion: 4 }), 'gw');
    expect([old.protocolVersion, old.properties]).toEqual([4, undefined]);
  });

  for (const version of [5, 4] as const) {
    it(`on MQTT ${version === 5 ? '5 the broker drops a message above the limit' : '3.1.1 the gateway cuts it off itself'}; smaller ones arrive`, async () => {
      const oversize: number[] = [];
      const received: number[] = [];
      const connect = guardedConnect((url, o) => mqtt.connect(url, o), {
        maxBytes: 64 * 1024,
        onOversize: (n) => oversize.push(n),
      });
      const client = connect(broker.url, {
        ...mqttOptions(upstream(broker.url, { protocolVersion: version }), `opts-${version}`),
        reconnectPeriod: 100,
      });
      clients.push(client);
      client.on('error', () => undefined);
      client.on('message', (_t, payload) => received.push(payload.length));
      await waitFor(() => client.connected, 10_000, 'connected');
      const topic = `in/${version}`;
      await client.subscribeAsync(topic, { qos: 1 });
      // QoS 0: on 3.1.1 the broker would re-send a QoS 1 message at every reconnection, for ever (docs/deploy.md
      // has the broker refuse it on arrival with max_packet_size).
      await sender.publishAsync(topic, Buffer.alloc(1024 * 1024), { qos: 0 });
      await sender.publishAsync(topic, Buffer.alloc(1000), { qos: 1 });
      await waitFor(() => received.includes(1000), 10_000, 'the small message');
      expect(received).toEqual([1000]);
      expect(oversize.length > 0).toBe(version === 4);
    });
  }
});
