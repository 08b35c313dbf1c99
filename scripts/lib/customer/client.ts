/**
 * The household's side of the contract (docs/protocol.md §Households), as the customer tool uses it: building
 * signed requests, checking the gateway's signed replies, opening sealed live readings. Nothing here needs the
 * gateway's secrets; everything needs the household's key file.
 */
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { codeKeyPair } from '../../../gateway/customer/enrolment-code.ts';
import type { CustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { publicKeyFromRaw } from '../../../gateway/customer/raw-keys.ts';
import { open, seal } from '../../../gateway/customer/seal.ts';
import { z } from 'zod';
import { GatewayError } from '../../../gateway/errors.ts';
import { openEnvelope } from '../../../gateway/protocol/envelope.ts';
import {
  CustomerReply,
  LivePlaintext,
  LiveReading,
  RequestKeyAnnouncement,
  SealedReply,
  replyAad,
  requestAad,
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
 * first enrolment (trust on first use) with the key the reply itself names, which the tool then keeps. The reply
 * to a sealed request comes sealed to the household's key: `opener` opens it.
 */
export function openReply(
  raw: Buffer,
  gatewayKey: string | undefined,
  opener?: { sealingPrivate: KeyObject; gatewayId: string },
): CustomerReply {
  let claimed: string | undefined = gatewayKey;
  if (!claimed) {
    try {
      const envelope = JSON.parse(raw.toString()) as { body?: string };
      claimed = z.object({ gatewayKey: z.string() }).parse(JSON.parse(envelope.body ?? '')).gatewayKey;
    } catch (cause) {
      throw new GatewayError('MESSAGE_MALFORMED', 'reply is not a v1 signed reply', { cause });
    }
  }
  const { body } = openEnvelope(raw, publicKeyFromRaw(claimed, 'Ed25519'));
  const sealed = SealedReply.safeParse(body);
  if (!sealed.success) return CustomerReply.parse(body);
  if (!opener) throw new GatewayError('MESSAGE_MALFORMED', 'a sealed reply, and no key to open it with');
  const r = sealed.data;
  const inner = CustomerReply.parse(
    JSON.parse(open(opener.sealingPrivate, r.sealed, replyAad(opener.gatewayId, r.id)).toString('utf8')),
  );
  if (inner.id !== r.id || inner.gatewayKey !== r.gatewayKey) {
    throw new GatewayError('MESSAGE_MALFORMED', 'the sealed reply does not match its envelope');
  }
  return inner;
}

/**
 * The gateway's announcement of its request key, checked with the pinned gateway key when the household has one
 * (else with the key it names: trust on first use, and every later reply must be signed by the same key).
 */
export function openAnnouncement(
  raw: Buffer,
  pinned: string | undefined,
  gatewayId: string,
): { sealing: string; gatewayKey: string } {
  let claimed = pinned;
  if (!claimed) {
    try {
      const envelope = JSON.parse(raw.toString()) as { body?: string };
      claimed = RequestKeyAnnouncement.parse(JSON.parse(envelope.body ?? '')).gatewayKey;
    } catch (cause) {
      throw new GatewayError('MESSAGE_MALFORMED', 'the announced request key is not a v1 announcement', {
        cause,
      });
    }
  }
  const a = RequestKeyAnnouncement.parse(openEnvelope(raw, publicKeyFromRaw(claimed, 'Ed25519')).body);
  if (a.gatewayId !== gatewayId || a.gatewayKey !== claimed) {
    throw new GatewayError('MESSAGE_MALFORMED', `the announced request key is not gateway ${gatewayId}'s`);
  }
  return { sealing: a.sealing, gatewayKey: a.gatewayKey };
}

/** A request message sealed to the gateway's request key: the broker reads nothing of it. */
export function sealRequest(message: string, requestKey: string, gatewayId: string): string {
  const sealed = seal(
    publicKeyFromRaw(requestKey, 'X25519'),
    Buffer.from(message, 'utf8'),
    requestAad(gatewayId),
  );
  return JSON.stringify({ v: 1, sealed });
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
