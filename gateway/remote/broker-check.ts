/**
 * Before a remote configuration that adds the meter broker is written: can the gateway actually connect to it?
 * One that refuses the gateway (or does not answer) would leave its meters unread, so such a change is refused
 * instead. The check connects once, with its own client id, and disconnects. (The upstream connection is set
 * only locally: privacy-floor.ts.)
 */
import mqtt, { type IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { readSecretFile } from '../keys/files.ts';
import { changedPaths } from './config-diff.ts';

const CHECK_TIMEOUT_MS = 8_000;

export async function checkBrokers(running: Readonly<Config>, next: Readonly<Config>): Promise<void> {
  const meters = next.drivers.mqtt;
  if (!meters || changedPaths(running.drivers.mqtt, meters).length === 0) return;
  await tryConnect(meters.url, {
    clientId: `${meters.clientId ?? `meters-${next.gateway.id}`}-check`,
    ...(meters.username !== undefined ? { username: meters.username } : {}),
    ...(meters.passwordFile !== undefined
      ? { password: readSecretFile(meters.passwordFile, 'meter broker password file').trim() }
      : {}),
  });
}

/** Connects once and disconnects; throws BROKER_REFUSED with the broker's or the network's reason. */
async function tryConnect(url: string, opts: IClientOptions): Promise<void> {
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
      `the new meter broker ${url} refuses the gateway: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}
