/**
 * A cap on inbound MQTT packets that holds before they are buffered (issue #14 C, floods). On MQTT 5 the gateway
 * announces `maximumPacketSize` in its CONNECT, and a compliant broker never sends it more (MQTT 5.0 §3.1.2.11.4:
 * the server discards such a message). But mqtt.js's parser (mqtt-packet 9) collects a whole packet before anyone
 * sees its size, and checks the limit only then, on v5 only: a non-compliant broker, or any broker on 3.1.1, could
 * make the gateway hold a 256 MB packet in memory. So each connection's stream is watched as bytes arrive: the
 * fixed header (MQTT 3.1.1 §2.2, 5.0 §2.1.1: one byte, then the remaining length in 1–4 bytes of 7 bits) announces
 * the size of every packet, and one announced above the limit ends the connection before its body is read.
 */
import type { Duplex } from 'node:stream';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';

/** Follows packet boundaries in an MQTT byte stream and reports the total size of each packet as it is announced. */
export class PacketSizeTracker {
  /** Bytes of the current packet's body still to skip; -1 while reading a fixed header. */
  private toSkip = -1;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;

  /** Feeds one chunk; returns the total size of the first packet announced above `limit`, if any. */
  push(chunk: Buffer, limit: number): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.toSkip > 0) {
        const skipped = Math.min(this.toSkip, chunk.length - i);
        this.toSkip -= skipped;
        i += skipped;
        if (this.toSkip === 0) this.toSkip = -1;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.headerBytes === 0) {
        this.headerBytes = 1; // packet type and flags
        continue;
      }
      this.headerBytes++;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if ((byte & 0x80) !== 0 && this.headerBytes < 5) continue;
      const total = this.headerBytes + this.length;
      if (total > limit || (byte & 0x80) !== 0) return total; // a fifth length byte is malformed: also refused
      this.toSkip = this.length === 0 ? -1 : this.length;
      this.headerBytes = 0;
      this.length = 0;
      this.multiplier = 1;
    }
    return undefined;
  }
}

/** Total size (fixed header included) of the largest packet accepted, and what to do when one is announced larger. */
export interface PacketLimit {
  maxBytes: number;
  onOversize: (announcedBytes: number) => void;
}

/** Watches `stream`'s inbound bytes and destroys it as soon as a packet above the limit is announced. */
export function guardStream<S extends Duplex>(stream: S, limit: PacketLimit): S {
  const tracker = new PacketSizeTracker();
  const watch = (chunk: Buffer) => {
    const announced = tracker.push(chunk, limit.maxBytes);
    if (announced === undefined) return;
    stream.off('data', watch);
    limit.onOversize(announced);
    stream.destroy();
  };
  stream.on('data', watch);
  return stream;
}

type Connect = (url: string, opts: IClientOptions) => MqttClient;

/**
 * Wraps an mqtt.js connect function so that every stream the client opens (the first and each reconnection's) is
 * guarded. The client is created without connecting (`manualConnect`), its stream builder wrapped, then connected.
 */
export function guardedConnect(connect: Connect, limit: PacketLimit): Connect {
  return (url, opts) => {
    const client = connect(url, { ...opts, manualConnect: true });
    // `streamBuilder` is private in mqtt.js's types only: connect() reads it on every (re)connection.
    const builder = client as unknown as { streamBuilder: (c: MqttClient) => Duplex };
    const build = builder.streamBuilder.bind(builder);
    builder.streamBuilder = (c) => guardStream(build(c), limit);
    if (!opts.manualConnect) client.connect();
    return client;
  };
}

/**
 * The gateway's answer to an oversized packet: counted (uplink.inbound_too_large), logged with its code the first
 * time and every 100th after, since a flood would otherwise fill the log it is meant to be seen in.
 */
export function inboundTooLarge(
  metrics: Metrics,
  log: Logger,
  counter = 'uplink.inbound_too_large',
): (announcedBytes: number) => void {
  let count = 0;
  return (announcedBytes) => {
    metrics.inc(counter);
    if (count++ % 100 === 0) {
      log.warn(
        { code: 'PACKET_TOO_LARGE', announcedBytes, count },
        'inbound MQTT packet above the size limit: connection closed before reading it',
      );
    }
  };
}
