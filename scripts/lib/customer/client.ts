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
  SharedPlaintext,
  SharedReading,
  liveAad,
  sharedAad,
  type CustomerRequest,
  type EnrolRequest,
  type Granularity,
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
  const body: EnrolRequest = {
    type: 'enrol',
    ...requestBase(o.gatewayId, o.meterId, o.now),
    ...(o.id ? { id: o.id } : {}),
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
  return { id: body.id, message: JSON.stringify(message) };
}

/** A request signed by the household's enrolled key (history, erase). */
function signedRequest(body: CustomerRequest, keys: CustomerKeys): string {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  return JSON.stringify({
    v: 1,
    body: text.toString('utf8'),
    sig: sign(null, text, keys.signingPrivate).toString('base64url'),
  });
}

/** What every request carries: a fresh id, the gateway and meter, and the time as its sequence number. */
function requestBase(gatewayId: string, meterId: string, now: number) {
  return { id: requestId(), gatewayId, meterId, seq: now, issuedAt: new Date(now).toISOString() };
}

export function historyRequest(o: {
  gatewayId: string;
  meterId: string;
  keys: CustomerKeys;
  from: number;
  to: number;
  now: number;
}): { id: string; message: string } {
  const body: CustomerRequest = {
    type: 'history',
    ...requestBase(o.gatewayId, o.meterId, o.now),
    from: new Date(o.from).toISOString(),
    to: new Date(o.to).toISOString(),
  };
  return { id: body.id, message: signedRequest(body, o.keys) };
}

/** A request that names only the meter: `erase` (delete my history), `info` (what do you keep and send) or
 *  `consents` (my consent log). */
export function meterRequest(
  type: 'erase' | 'info' | 'consents',
  o: { gatewayId: string; meterId: string; keys: CustomerKeys; now: number },
): { id: string; message: string } {
  const body: CustomerRequest = { type, ...requestBase(o.gatewayId, o.meterId, o.now) };
  return { id: body.id, message: signedRequest(body, o.keys) };
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

/** Opens the sealed readings of a history reply (each as a live one: same associated data). */
export function openHistory(
  reply: CustomerReply,
  sealingPrivate: KeyObject,
  pseudonym: string,
): OpenedLiveReading[] {
  return (reply.readings ?? []).map((r) => {
    const plain = open(sealingPrivate, r.sealed, liveAad(pseudonym, r.start, r.end));
    return { start: r.start, end: r.end, wh: LivePlaintext.parse(JSON.parse(plain.toString('utf8'))).wh };
  });
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

/** A consent for a third party (its X25519 key), signed by the household. */
export function consentGrantRequest(o: {
  gatewayId: string;
  meterId: string;
  keys: CustomerKeys;
  grantee: { name: string; sealing: string };
  granularity: Granularity;
  until: number;
  now: number;
}): { id: string; message: string } {
  const body: CustomerRequest = {
    type: 'consent-grant',
    ...requestBase(o.gatewayId, o.meterId, o.now),
    grantee: o.grantee,
    granularity: o.granularity,
    until: new Date(o.until).toISOString(),
  };
  return { id: body.id, message: signedRequest(body, o.keys) };
}

export function consentRevokeRequest(o: {
  gatewayId: string;
  meterId: string;
  keys: CustomerKeys;
  consentId: string;
  now: number;
}): { id: string; message: string } {
  const body: CustomerRequest = {
    type: 'consent-revoke',
    ...requestBase(o.gatewayId, o.meterId, o.now),
    consentId: o.consentId,
  };
  return { id: body.id, message: signedRequest(body, o.keys) };
}

export interface OpenedSharedSlot {
  granularity: Granularity;
  start: string;
  end: string;
  slot: number;
  of: number;
  /** (Wh + mask) mod 2^48: meaningful only summed over the span's `of` slots. */
  m: number;
  missing: boolean;
}

/** A third party's view: checks a shared message's signature, then opens its seal with the third party's key. */
export function openShared(
  raw: Buffer,
  gatewayKey: KeyObject,
  sealingPrivate: KeyObject,
  stream: string,
): OpenedSharedSlot {
  const { body } = openEnvelope(raw, gatewayKey);
  const s = SharedReading.parse(body);
  const plain = open(sealingPrivate, s.sealed, sharedAad(stream, s.granularity, s.start, s.end, s.slot));
  const { m, missing } = SharedPlaintext.parse(JSON.parse(plain.toString('utf8')));
  return { granularity: s.granularity, start: s.start, end: s.end, slot: s.slot, of: s.of, m, missing };
}
