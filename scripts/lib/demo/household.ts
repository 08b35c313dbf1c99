/**
 * The demo's household: the installer's enrolment code for one meter, the household's own keys, its enrolment
 * over the broker (proven with the code), and its live readings opened with its key — checked against the CSV,
 * and tried with another household's key, which must open none.
 */
import type { KeyObject } from 'node:crypto';
import mqtt from 'mqtt';
import {
  customerFingerprint,
  generateCustomerKeys,
  type CustomerKeys,
} from '../../../gateway/customer/customer-key.ts';
import { codeKeyPair, generateEnrolmentCode } from '../../../gateway/customer/enrolment-code.ts';
import { storeEnrolmentCode } from '../../../gateway/customer/enrolment-codes.ts';
import { publicKeyFromRaw } from '../../../gateway/customer/raw-keys.ts';
import { topics } from '../../../gateway/protocol/topics.ts';
import { enrolRequest, openLive, openReply, type OpenedLiveReading } from '../customer/client.ts';

const PREFIX = 'meterspace/v1';

/** Makes the meter's code and stores its hash where the gateway's config says (before the gateway starts). */
export function makeEnrolmentCode(codesFile: string, gatewayId: string, meterId: string): string {
  const code = generateEnrolmentCode();
  storeEnrolmentCode(codesFile, meterId, codeKeyPair(code, gatewayId, meterId).publicKey);
  return code;
}

export interface DemoHousehold {
  fingerprint: string;
  pseudonym: string;
  /** Readings opened with the household's key, as they arrived. */
  opened: OpenedLiveReading[];
  /** Messages on the household's stream that another household's key opened (must stay 0). */
  openedByOthers: number;
  stop(): Promise<void>;
}

/** Enrols a new household key with the code (retrying until the gateway listens), then listens to its stream. */
export async function enrolHousehold(o: {
  brokerUrl: string;
  gatewayId: string;
  meterId: string;
  code: string;
  timeoutMs: number;
}): Promise<DemoHousehold> {
  const keys: CustomerKeys = generateCustomerKeys();
  const stranger = generateCustomerKeys();
  const client = await mqtt.connectAsync(o.brokerUrl, { clientId: 'demo-household' });
  const replies = new Map<string, (payload: Buffer) => void>();
  const opened: OpenedLiveReading[] = [];
  let openedByOthers = 0;
  let live: { topic: string; gatewayKey: KeyObject; pseudonym: string } | undefined;
  client.on('message', (topic, payload) => {
    if (live && topic === live.topic) {
      opened.push(openLive(payload, live.gatewayKey, keys.sealingPrivate, live.pseudonym));
      try {
        openLive(payload, live.gatewayKey, stranger.sealingPrivate, live.pseudonym);
        openedByOthers++;
      } catch {
        // As it must be: another household's key opens nothing.
      }
      return;
    }
    replies.get(topic)?.(payload);
  });
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const request = enrolRequest({
      gatewayId: o.gatewayId,
      meterId: o.meterId,
      keys,
      authority: { kind: 'code', code: o.code },
      now: Date.now(),
    });
    const replyTopic = topics.customerReply(PREFIX, o.gatewayId, request.id);
    const reply = new Promise<Buffer | undefined>((resolve) => {
      replies.set(replyTopic, resolve);
      setTimeout(() => resolve(undefined), 1000);
    });
    await client.subscribeAsync(replyTopic, { qos: 1 });
    await client.publishAsync(topics.customerRequest(PREFIX, o.gatewayId), request.message, { qos: 1 });
    const raw = await reply;
    replies.delete(replyTopic);
    if (raw) {
      const answer = openReply(raw, undefined);
      if (!answer.ok) throw new Error(`enrolment refused: [${answer.code}] ${answer.message ?? ''}`);
      const pseudonym = answer.pseudonym!;
      const topic = topics.customerLive(PREFIX, pseudonym);
      live = { topic, gatewayKey: publicKeyFromRaw(answer.gatewayKey, 'Ed25519'), pseudonym };
      await client.subscribeAsync(topic, { qos: 0 });
      return {
        fingerprint: customerFingerprint(keys.publicKeys),
        pseudonym,
        opened,
        get openedByOthers() {
          return openedByOthers;
        },
        stop: () => client.endAsync(),
      };
    }
    if (Date.now() > deadline) throw new Error('the gateway did not answer the enrolment');
  }
}
