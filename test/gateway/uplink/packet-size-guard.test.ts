/**
 * The inbound packet cap before buffering (issue #14 C): the tracker follows packet boundaries across chunks, and a
 * guarded mqtt.js client, on MQTT 5 and on 3.1.1, drops the connection to a non-compliant broker as soon as a packet
 * above the limit is announced, before its body arrives; packets within it pass untouched.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { guardedConnect, PacketSizeTracker } from '../../../gateway/uplink/packet-size-guard.ts';
import { waitFor } from '../../helpers/wait.ts';

/** MQTT's remaining length: 7 bits a byte, least significant first (MQTT 3.1.1 §2.2.3). */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A PUBLISH packet (QoS 0) of topic `t` with `body` bytes of payload; MQTT 5 adds an empty property list. */
function publish(t: string, body: number, version: 4 | 5 = 4): Buffer {
  const topic = Buffer.from(t);
  const properties = version === 5 ? [0] : [];
  const rest = 2 + topic.length + properties.length + body;
  return Buffer.concat([
    Buffer.from([0x30, ...varint(rest), topic.length >> 8, topic.length & 0xff]),
    topic,
    Buffer.from(properties),
    Buffer.alloc(body, 0x61),
  ]);
}

describe('PacketSizeTracker', () => {
  it('reports the first packet above the limit, across packets and chunk edges, counting the fixed header', () => {
    const stream = Buffer.concat([publish('a/b', 100), publish('a/b', 1000), publish('a/b', 20_000)]);
    for (const step of [1, 2, 7, 4096, stream.length]) {
      const tracker = new PacketSizeTracker();
      let found: number | undefined;
      for (let i = 0; i < stream.length && found === undefined; i += step) {
        found = tracker.push(stream.subarray(i, i + step), 20_000);
      }
      expect([step, found]).toEqual([step, 1 + 3 + 2 + 3 + 20_000]); // header, length, topic, body
    }
    const tracker = new PacketSizeTracker();
    expect(tracker.push(stream, 20_009)).toBeUndefined();
    expect(tracker.push(Buffer.from([0xc0, 0x00]), 2)).toBeUndefined(); // PINGRESP: no body
  });

  it('refuses the largest length MQTT allows before its body, and a malformed fifth length byte', () => {
    expect(new PacketSizeTracker().push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), 1 << 20)).toBe(
      268_435_460,
    );
    expect(new PacketSizeTracker().push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), 1 << 30)).toBe(5);
  });
});

describe('a guarded client against a broker that ignores maximumPacketSize', () => {
  let server: Server | undefined;
  let client: mqtt.MqttClient | undefined;
  afterEach(async () => {
    await client?.endAsync(true);
    server?.close();
  });

  /** A raw MQTT server: CONNACK, then `packets`, then `tail` bytes more; resolves how many bytes it got written. */
  async function rogueBroker(version: 4 | 5, packets: Buffer[], tail: number) {
    let written = 0;
    let closed: Promise<unknown> = Promise.resolve();
    server = createServer((socket: Socket) => {
      closed = new Promise((resolve) => socket.on('close', resolve));
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.write(Buffer.from(version === 5 ? [0x20, 0x03, 0, 0, 0] : [0x20, 0x02, 0, 0]));
        for (const p of packets) socket.write(p);
        // The body of a huge packet, in 64 KiB writes for as long as the client reads it.
        const chunk = Buffer.alloc(64 * 1024, 0x62);
        const more = () => {
          while (written < tail && !socket.destroyed) {
            written += chunk.length;
            if (!socket.write(chunk)) return void socket.once('drain', more);
          }
        };
        more();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
      written: () => written,
      closed: () => closed,
    };
  }

  for (const version of [5, 4] as const) {
    it(`on MQTT ${version === 5 ? '5' : '3.1.1'}: delivers packets within the limit, cuts one above it off at its header`, async () => {
      const HUGE = 100 * 1024 * 1024;
      const broker = await rogueBroker(
        version,
        [publish('in/ok', 1000, version), Buffer.from([0x30, ...varint(HUGE)])],
        HUGE,
      );
      const oversize: number[] = [];
      const messages: string[] = [];
      const connect = guardedConnect((url, opts) => mqtt.connect(url, opts), {
        maxBytes: 64 * 1024,
        onOversize: (n) => oversize.push(n),
      });
      client = connect(broker.url, { protocolVersion: version, reconnectPeriod: 0 });
      client.on('error', () => undefined);
      client.on('message', (topic, payload) => messages.push(`${topic}:${payload.length}`));
      await waitFor(() => oversize.length > 0, 10_000, 'the oversized packet refused');
      await broker.closed();
      expect(oversize).toEqual([1 + 4 + HUGE]);
      expect(messages).toEqual(['in/ok:1000']);
      // The connection ended long before the body: at most the socket buffers' worth was written.
      expect(broker.written()).toBeLessThan(16 * 1024 * 1024);
    });
  }
});
