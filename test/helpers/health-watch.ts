/**
 * The gateway's signed health messages as an operator receives them: every one on the broker, verified with the
 * gateway's key and parsed, in arrival order (the gateway sends them when `observe.healthSeconds` is set).
 */
import type { KeyObject } from 'node:crypto';
import mqtt from 'mqtt';
import { HealthBody } from '../../gateway/protocol/health-message.ts';
import { openEnvelope } from '../../gateway/protocol/envelope.ts';
import { topics } from '../../gateway/protocol/topics.ts';
import { GATEWAY_ID } from './scenario.ts';

export interface HealthWatch {
  /** Every health message so far. */
  healths: HealthBody[];
  close(): Promise<void>;
}

export async function watchHealth(
  brokerUrl: string,
  gatewayPublicKey: KeyObject,
  clientId = 'health-watcher',
): Promise<HealthWatch> {
  const healths: HealthBody[] = [];
  const client = await mqtt.connectAsync(brokerUrl, { clientId });
  client.on('message', (_topic, payload) =>
    healths.push(HealthBody.parse(openEnvelope(payload, gatewayPublicKey).body)),
  );
  await client.subscribeAsync(topics.health('meterspace/v1', GATEWAY_ID), { qos: 0 });
  return { healths, close: () => client.endAsync(true) };
}
