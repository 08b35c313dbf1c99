/** Builds mqtt.js connection options from the `upstream` config section (credentials and TLS files read here). */
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.ts';
import { readKeyFile, readSecretFile } from '../keys/files.ts';

export function mqttOptions(upstream: Config['upstream'], gatewayId: string): IClientOptions {
  const opts: IClientOptions = {
    clientId: upstream.clientId ?? `gw-${gatewayId}`,
    // A persistent session keeps the ack subscription (and acks sent while we were away) at the broker.
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 2_000,
    connectTimeout: 10_000,
    keepalive: 30,
  };
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
    if (tls.key) opts.key = readSecretFile(tls.key, 'client private key');
  }
  return opts;
}
