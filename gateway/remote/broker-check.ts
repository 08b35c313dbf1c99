/**
 * Before a remote configuration that changes a broker connection is written: can the gateway actually connect
 * with it? A new upstream broker (URL, credentials, TLS files) or meter broker that refuses the gateway would
 * cut it off (the upstream one for good: no remote command could reach it any more), so such a change is refused
 * instead. The check connects once, with its own client id (so as not to take over the running session), and
 * disconnects.
 */
import mqtt, { type IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { readSecretFile } from '../keys/files.ts';
import { mqttOptions } from '../uplink/mqtt-options.ts';
import { changedPaths } from './config-diff.ts';

const CHECK_TIMEOUT_MS = 8_000;

/** Paths of `upstream` that do not concern the connection itself. */
const NOT_CONNECTION = new Set([
  'upstream.schedule',
  'upstream.maxRecordsPerBatch',
  'upstream.retryInitialSeconds',
  'upstream.retryMaxSeconds',
]);

export async function checkBrokers(running: Readonly<Config>, next: Readonly<Config>): Promise<void> {
  const upstream = changedPaths(running.upstream, next.upstream, 'upstream').filter(
    (p) => !NOT_CONNECTION.has(p),
  );
  if (upstream.length > 0) {
    const opts = mqttOptions(next.upstream, next.gateway.id);
    await tryConnect('upstream broker', next.upstream.url, {
      ...opts,
      clientId: `${String(opts.clientId)}-check`,
    });
  }
  const meters = next.drivers.mqtt;
  if (meters && changedPaths(running.drivers.mqtt, meters).length > 0) {
    await tryConnect('meter broker', meters.url, {
      clientId: `${meters.clientId ?? `meters-${next.gateway.id}`}-check`,
      ...(meters.username !== undefined ? { username: meters.username } : {}),
      ...(meters.passwordFile !== undefined
        ? { password: readSecretFile(meters.passwordFile, 'meter broker password file').trim() }
        : {}),
    });
  }
}

/** Connects once and disconnects; throws BROKER_REFUSED with the broker's or the network's reason. */
async function tryConnect(what: string, url: string, opts: IClientOptions): Promise<void> {
  const client = mqtt.connect(url, {
    ...opts,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: CHECK_TIMEOUT_MS,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)),
        CHECK_TIMEOUT_MS,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      client.once('close', () => {
        clearTimeout(timer);
        reject(new Error('the connection was closed'));
      });
    });
  } catch (cause) {
    throw new GatewayError(
      'BROKER_REFUSED',
      `the new ${what} ${url} refuses the gateway: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}
