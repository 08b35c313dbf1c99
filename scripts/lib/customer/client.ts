/**
 * The household's side of the contract (docs/protocol.md §Households), as the customer tool uses it: building
 * signed requests, checking the gateway's signed replies, opening sealed live readings. Nothing here needs the
 * gateway's secrets; everything needs the household's key file.
 */
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { codeKeyPair } from '../../../gateway/customer/enrolment-code.ts';
import type { CustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { publicKeyFromRaw } from '../../../gateway/customer/raw-keys.ts';
import { open } from '../../../gateway/customer/seal.ts';
import { GatewayError } from '../../../gateway/errors.ts';
import { openEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  CustomerReply,
  LivePlaintext,
  LiveReading,
  liveAad,
  type EnrolRequest,
} from '../../../gateway/protocol/customer-messages.ts';

export type Authority = { kind: 'code'; code: string } | { kind: 'current-key'; current: CustomerKeys };

export function requestId(): string {
  return randomBytes(12).toString('hex');
}

/** A signed enrolment request for `keys`, proven by the code or by the key enrolled now. */
export function enrolRequest(o: {
  gatewayId: string;
  meterId: string;
  keys: CustomerKeys;
  authority: Authority;
  now: number;
  id?: string;
}): { id: string; message: string } {
  const id = o.id ?? requestId();
  const body: EnrolRequest = {
    type: 'enrol',
    id,
    meterId: o.meterId,
    seq: o.now,
    issuedAt: new Date(o.now).toISOString(),
    keys: o.keys.publicKeys,
    authority: o.authority.kind,
  };
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  const proofKey =
    o.authority.kind === 'code'
      ? codeKeyPair(o.authority.code, o.gatewayId, o.meterId).privateKey
      : o.authority.current.signingPrivate;
  const message = {
    v: 1,
    body: text.toString('utf8'),
    sig: sign(null, text, o.keys.signingPrivate).toString('base64url'),
    proof: sign(null, text, proofKey).toString('base64url'),
  };
  return { id, message: JSON.stringify(message) };
}

/**
 * A reply from the gateway. Its signature is checked with `gatewayKey` when the household has it already; on a
 * first enrolment (trust on first use) with the key the reply itself names, which the tool then keeps.
 */
export function openReply(raw: Buffer, gatewayKey: string | undefined): CustomerReply {
  let claimed: string | undefined = gatewayKey;
  if (!claimed) {
    try {
      const envelope = JSON.parse(raw.toString()) as { body?: string };
      claimed = CustomerReply.parse(JSON.parse(envelope.body ?? '')).gatewayKey;
    } catch (cause) {
      throw new GatewayError('MESSAGE_MALFORMED', 'reply is not a v1 signed reply', { cause });
    }
  }
  if (!claimed) throw new GatewayError('MESSAGE_MALFORMED', 'reply names no gateway key to check it with');
  const { body } = openEnvelope(raw, publicKeyFromRaw(claimed, 'Ed25519'));
  return CustomerReply.parse(body);
}

export interface OpenedLiveReading {
  start: string;
  end: string;
  wh: number;
}

/** Checks a live message's signature, then opens its seal with the household's key. */
export function openLive(
  raw: Buffer,
  gatewayKey: KeyObject,
  sealingPrivate: KeyObject,
  pseudonym: string,
): OpenedLiveReading {
  const { body } = openEnvelope(raw, gatewayKey);
  const live = LiveReading.parse(body);
  const plain = open(sealingPrivate, live.sealed, liveAad(pseudonym, live.start, live.end));
  const { wh } = LivePlaintext.parse(JSON.parse(plain.toString('utf8')));
  return { start: live.start, end: live.end, wh };
}
