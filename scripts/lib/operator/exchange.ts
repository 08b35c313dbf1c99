/**
 * One signed configuration request to a gateway and its signed reply over MQTT (docs/protocol.md §15): shared by
 * `scripts/operator` and `scripts/audit`.
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import mqtt from 'mqtt';
import { GatewayError } from '../../../gateway/errors.ts';
import { loadPrivateKey, loadPublicKey, readKeyFile, readSecretFile } from '../../../gateway/keys/files.ts';
import { openEnvelope, signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { ConfigReply, type ConfigRequest } from '../../../gateway/protocol/operator-messages.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { deadline } from '../deadline.ts';

export interface OperatorLink {
  gateway: string;
  privateKey: KeyObject;
  gatewayKey: KeyObject;
  broker: string;
  prefix: string;
  ca?: string | undefined;
  username?: string | undefined;
  passwordFile?: string | undefined;
  timeoutS: number;
}

/** The options every operator tool takes for its link to a gateway (parseArgs shape). */
export const LINK_OPTIONS = {
  gateway: { type: 'string' },
  key: { type: 'string' },
  'gateway-public': { type: 'string' },
  broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
  prefix: { type: 'string', default: 'meterspace/v1' },
  ca: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  timeout: { type: 'string', default: '30' },
} as const;

/** The link from parsed LINK_OPTIONS (gateway, key and gateway-public checked present by the caller). */
export function linkFrom(values: {
  gateway?: string | undefined;
  key?: string | undefined;
  'gateway-public'?: string | undefined;
  broker: string;
  prefix: string;
  ca?: string | undefined;
  username?: string | undefined;
  'password-file'?: string | undefined;
  timeout: string;
}): OperatorLink {
  return {
    gateway: values.gateway!,
    privateKey: loadPrivateKey(values.key!, 'ed25519', 'operator key'),
    gatewayKey: loadPublicKey(values['gateway-public']!, 'ed25519', 'gateway public key'),
    broker: values.broker,
    prefix: values.prefix,
    ca: values.ca,
    username: values.username,
    passwordFile: values['password-file'],
    timeoutS: Number(values.timeout),
  };
}

/** The request without what `exchange` fills in (id, gateway, sequence number, time). */
export type RequestBody = { type: 'config-get' } | { type: 'config-set'; yaml: string; dryRun: boolean };

let lastSeq = 0;

/** Sends one request, signed, and returns the gateway's verified reply to it. */
export async function exchange(link: OperatorLink, body: RequestBody): Promise<ConfigReply> {
  // Strictly increasing, also for several requests within one millisecond (the gateway refuses a replay).
  const now = Math.max(Date.now(), lastSeq + 1);
  lastSeq = now;
  const base = {
    id: randomBytes(12).toString('hex'),
    gatewayId: link.gateway,
    seq: now,
    issuedAt: new Date(now).toISOString(),
  };
  const request: ConfigRequest = { ...base, ...body };
  const { message } = signEnvelope(request, link.privateKey, createPublicKey(link.privateKey));
  const client = await mqtt.connectAsync(link.broker, {
    clientId: `operator-${base.id}`,
    ...(link.ca ? { ca: readKeyFile(link.ca, 'CA certificate') } : {}),
    ...(link.username ? { username: link.username } : {}),
    ...(link.passwordFile
      ? { password: readSecretFile(link.passwordFile, 'broker password file').trim() }
      : {}),
  });
  let reply: ConfigReply;
  try {
    const answer = new Promise<Buffer>((resolve) => client.on('message', (_t, p) => resolve(p)));
    await client.subscribeAsync(topics.configReply(link.prefix, link.gateway, base.id), { qos: 1 });
    await client.publishAsync(topics.configRequest(link.prefix, link.gateway), message, { qos: 1 });
    const { expired, clear } = deadline(
      link.timeoutS * 1000,
      () =>
        new GatewayError(
          'DEVICE_TIMEOUT',
          `no reply from gateway ${link.gateway} within ${link.timeoutS} s (is it running, on ${link.broker}, with keys.operatorPublic set?)`,
        ),
    );
    try {
      reply = ConfigReply.parse(openEnvelope(await Promise.race([answer, expired]), link.gatewayKey).body);
    } finally {
      clear();
    }
  } finally {
    await client.endAsync();
  }
  if (reply.id !== base.id)
    throw new GatewayError('MESSAGE_MALFORMED', 'the reply does not answer this request');
  return reply;
}
