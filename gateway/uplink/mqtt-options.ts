/** Builds mqtt.js connection options from the `upstream` config section (credentials and TLS files read here). */
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.ts';
import { readKeyFile, readSecretFile } from '../keys/files.ts';

export function mqttOptions(upstream: Config['upstream'], gatewayId: string): IClientOptions {
  const opts: IClientOptions = {
    clientId: upstream.clientId ?? `gw-${gatewayId}`,
    // A persistent session keeps the ack subscription (and acks sent while we were away) at the broker.
    clean: false,
    protocolVersion: upstream.protocolVersion,
    reconnectPeriod: 2_000,
    connectTimeout: 10_000,
    keepalive: 30,
    // Over ws:// and wss:// the WebSocket library collects a whole message (up to 100 MiB by default) before
    // packet-size-guard.ts sees a byte of it: cap the message there too.
    wsOptions: { maxPayload: upstream.maxPacketBytes },
  };
  if (upstream.protocolVersion === 5) {
    opts.properties = {
      // MQTT 5 ends a session when the connection closes unless told otherwise; 3.1.1's clean = false kept it
      // for ever (the ack subscription and the acks sent while the gateway was away).
      sessionExpiryInterval: 0xffffffff,
      // A compliant broker never sends a larger packet (MQTT 5.0 §3.1.2.11.4); packet-size-guard.ts cuts off
      // one that does, and every packet on 3.1.1.
      maximumPacketSize: upstream.maxPacketBytes,
    };
  }
  if (upstream.username !== undefined) opts.username = upstream.username;
  if (upstream.password !== undefined) opts.password = upstream.password;
  if (upstream.passwordFile !== undefined) {
    opts.password = readSecretFile(upstream.passwordFile, 'broker password file').trim();
  }
  const tls = upstream.tls;
  if (tls) {
    opts.rejectUnauthorized = tls.rejectUnauthorized;
    if (tls.ca) opts.ca = readKeyFile(tls.ca, 'CA certificate');
    if (tls.cert) opts.cert = readKeyFile(tls.cert, 'client certificate');
    if (tls.key) opts.key = readSecretFile(tls.key, 'client private key', 'private');
  }
  return opts;
}
