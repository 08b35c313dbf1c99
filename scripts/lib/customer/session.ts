/**
 * The household tool's conversation with its gateway: what enrolment taught it (kept beside the key file), how
 * it reaches the broker, and asking a signed request and waiting for the gateway's checked reply.
 */
import { existsSync, readFileSync } from 'node:fs';
import mqtt, { type IClientOptions } from 'mqtt';
import { z } from 'zod';
import { GatewayError } from '../../../gateway/errors.ts';
import { readKeyFile, readSecretFile } from '../../../gateway/keys/files.ts';
import type { CustomerReply } from '../../../gateway/protocol/customer-messages.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import type { KeyObject } from 'node:crypto';
import { loadCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { deadline } from '../deadline.ts';
import { openAnnouncement, openReply, sealRequest } from './client.ts';

export const Enrolment = z
  .object({
    broker: z.string(),
    prefix: z.string(),
    /** How to reach the broker: CA file, user name, password file (paths, never the password itself). */
    connection: z
      .object({
        ca: z.string().optional(),
        username: z.string().optional(),
        passwordFile: z.string().optional(),
      })
      .strict()
      .default({}),
    gateway: z.string(),
    meter: z.string(),
    pseudonym: z.string(),
    gatewayKey: z.string(),
  })
  .strict();
export type Enrolment = z.infer<typeof Enrolment>;

export const enrolmentFile = (keyFile: string) => `${keyFile}.enrolment.json`;

export type Connection = Enrolment['connection'];

/** mqtt.js options for the household's broker connection. */
export function connectOptions(c: Connection, clientId: string): IClientOptions {
  return {
    clientId,
    ...(c.ca ? { ca: readKeyFile(c.ca, 'CA certificate') } : {}),
    ...(c.username ? { username: c.username } : {}),
    ...(c.passwordFile ? { password: readSecretFile(c.passwordFile, 'broker password file').trim() } : {}),
  };
}

export function loadEnrolment(keyFile: string): Enrolment {
  const file = enrolmentFile(keyFile);
  if (!existsSync(file)) throw new GatewayError('KEY_FILE_MISSING', `${file} not found: enrol first`);
  return Enrolment.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** The gateway's refusal, with its code and reason. */
export const refused = (reply: CustomerReply) =>
  new GatewayError('REQUEST_REFUSED', `the gateway refused: [${reply.code}] ${reply.message ?? ''}`);

/**
 * Sends a request, sealed to the gateway's announced request key, and waits for the gateway's reply to it,
 * sealed to the household's key. Both are checked with `gatewayKey` (trust on first use when undefined: the key
 * the announcement names, which every later message must then be signed by); a reply that answers another
 * request (replayed onto this topic by someone) is refused.
 */
export async function ask(
  target: { broker: string; connection: Connection; prefix: string; gateway: string; gatewayKey?: string },
  request: { id: string; message: string },
  sealingPrivate: KeyObject,
  timeoutS: number,
): Promise<CustomerReply> {
  const { broker, prefix, gateway } = target;
  const client = await mqtt.connectAsync(broker, connectOptions(target.connection, `customer-${request.id}`));
  const waiting = new Map<string, (payload: Buffer) => void>();
  client.on('message', (topic, payload) => waiting.get(topic)?.(payload));
  const next = (topic: string) => new Promise<Buffer>((resolve) => waiting.set(topic, resolve));
  const { expired: timeout, clear } = deadline(
    timeoutS * 1000,
    () =>
      new GatewayError(
        'DEVICE_TIMEOUT',
        `no answer from gateway ${gateway} within ${timeoutS} s (is it running and on ${broker}?)`,
      ),
  );
  try {
    const keyTopic = topics.customerKey(prefix, gateway);
    const announced = next(keyTopic);
    await client.subscribeAsync(keyTopic, { qos: 1 });
    const gatewayKeys = openAnnouncement(
      await Promise.race([announced, timeout]),
      target.gatewayKey,
      gateway,
    );
    const replyTopic = topics.customerReply(prefix, gateway, request.id);
    const reply = next(replyTopic);
    await client.subscribeAsync(replyTopic, { qos: 1 });
    const sealed = sealRequest(request.message, gatewayKeys.sealing, gateway);
    await client.publishAsync(topics.customerRequest(prefix, gateway), sealed, { qos: 1 });
    const answer = openReply(await Promise.race([reply, timeout]), gatewayKeys.gatewayKey, {
      sealingPrivate,
      gatewayId: gateway,
    });
    if (answer.id !== request.id) {
      throw new GatewayError('MESSAGE_MALFORMED', 'the reply does not answer this request');
    }
    return answer;
  } finally {
    clear();
    await client.endAsync();
  }
}

/** A signed request to the gateway of the household's enrolment; the checked reply, or its refusal as an error. */
export async function askEnrolled(
  keyFile: string,
  build: (e: Enrolment) => { id: string; message: string },
  timeoutS: number,
): Promise<{ reply: CustomerReply; enrolment: Enrolment }> {
  const e = loadEnrolment(keyFile);
  const reply = await ask(e, build(e), loadCustomerKeys(keyFile).sealingPrivate, timeoutS);
  if (!reply.ok) throw refused(reply);
  return { reply, enrolment: e };
}
