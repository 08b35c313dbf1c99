/**
 * The consent log of contract version 1 (docs/protocol.md §Consent), as both sides use it: the gateway appends
 * entries, the household's tool reads the chain back and checks it.
 *
 * Each entry is a JSON text naming the hash of the entry before it (64 zeros for the first); its hash is the
 * SHA-256 of exactly that text. A grant or revoke carries the household's signed request itself, so anyone
 * holding the chain can check that the household asked for it; an `end` is the gateway's own record (the
 * household was revoked by a new enrolment code). A consent in force is a grant not revoked or ended whose
 * `until` has not passed. Each tenancy (a meter and the enrolment code its household enrolled with) has its own
 * chain: a new occupant starts a new one and never sees the previous occupant's.
 */
import { createHash, verify } from 'node:crypto';
import { z } from 'zod';
import { publicKeyFromRaw } from '../customer/raw-keys.ts';
import { GatewayError } from '../errors.ts';
import {
  ConsentGrantRequest,
  ConsentRevokeRequest,
  type ActiveConsent,
  type ConsentLogLine,
  type Granularity,
} from './customer-messages.ts';
import { topics } from './topics.ts';

export const GENESIS = '0'.repeat(64);

const RawKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const ConsentId = z.string().regex(/^[0-9a-f]{20}$/);
const SignedBy = { request: z.object({ body: z.string(), sig: z.string() }).strict(), signer: RawKey };
const Head = { v: z.literal(1), index: z.number().int().min(0), prev: Hex64, at: z.iso.datetime() };

export const ConsentEntry = z.discriminatedUnion('action', [
  z.object({ ...Head, action: z.literal('grant'), consentId: ConsentId, ...SignedBy }).strict(),
  z.object({ ...Head, action: z.literal('revoke'), consentId: ConsentId, ...SignedBy }).strict(),
  z.object({ ...Head, action: z.literal('end'), consentId: ConsentId, reason: z.string().max(200) }).strict(),
]);
export type ConsentEntry = z.infer<typeof ConsentEntry>;

/** What the gateway writes: an entry less its place in the chain. */
export type NewConsentEntry =
  | { action: 'grant' | 'revoke'; consentId: string; request: { body: string; sig: string }; signer: string }
  | { action: 'end'; consentId: string; reason: string };

export const entryHash = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The entry text for `fields` after the entry with hash `prev` at position `index`, and its hash. */
export function chainEntry(index: number, prev: string, at: string, fields: NewConsentEntry): ConsentLogLine {
  const entry = JSON.stringify({ v: 1, index, prev, at, ...fields });
  return { entry, hash: entryHash(entry) };
}

/** A consent's id: the first 20 hex digits of the SHA-256 of its grant request's body text. */
export const consentIdOf = (grantBody: string): string => entryHash(grantBody).slice(0, 20);

/** The name of the stream a consent's third party receives on: neither the meter nor the household shows. */
export function sharedStreamName(
  gatewayId: string,
  meterId: string,
  consentId: string,
  grantee: string,
): string {
  return createHash('sha256')
    .update(`meterspace/v1 shared ${gatewayId} ${meterId} ${consentId} ${grantee}`, 'utf8')
    .digest('hex')
    .slice(0, 32);
}

/** A third party's key fingerprint: SHA-256 of `meterspace/v1 grantee <sealing x>`, like a household's. */
export function granteeFingerprint(sealing: string): string {
  const hex = createHash('sha256')
    .update(`meterspace/v1 grantee ${sealing}`, 'utf8')
    .digest('hex')
    .slice(0, 40);
  return hex.match(/.{4}/g)!.join(' ');
}

const broken = (index: number, why: string) =>
  new GatewayError('CONSENT_LOG_INVALID', `consent log entry ${index}: ${why}`);

/**
 * Checks a whole chain as the household receives it: every hash, every link, every index, every grant or revoke
 * signed by the key it names over a request for this gateway and meter, requests in increasing sequence, each
 * consent granted once and ended at most once. Returns the parsed entries.
 */
export function verifyConsentChain(
  lines: readonly ConsentLogLine[],
  where: { gatewayId: string; meterId: string },
): ConsentEntry[] {
  const entries: ConsentEntry[] = [];
  let prev = GENESIS;
  let lastSeq = 0;
  const granted = new Set<string>();
  const ended = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (entryHash(line.entry) !== line.hash) throw broken(i, 'its hash does not match its text');
    let e: ConsentEntry;
    try {
      e = ConsentEntry.parse(JSON.parse(line.entry));
    } catch (cause) {
      throw new GatewayError('CONSENT_LOG_INVALID', `consent log entry ${i} is not an entry`, { cause });
    }
    if (e.index !== i) throw broken(i, `it says it is entry ${e.index}`);
    if (e.prev !== prev) throw broken(i, 'it does not follow the entry before it');
    if (e.action !== 'end') lastSeq = checkSignedRequest(e, i, where, lastSeq);
    // Each consent is granted once, then ended at most once: a grant appended again after its revoke (or a
    // revoke of what was never granted) is a rewrite.
    if (e.action === 'grant') {
      if (granted.has(e.consentId)) throw broken(i, `consent ${e.consentId} is granted twice`);
      granted.add(e.consentId);
    } else {
      if (!granted.has(e.consentId) || ended.has(e.consentId)) {
        throw broken(i, `it ends consent ${e.consentId}, which is not in force there`);
      }
      ended.add(e.consentId);
    }
    entries.push(e);
    prev = line.hash;
  }
  return entries;
}

/** Checks a household entry's signed request; returns its sequence number, which must exceed the last one. */
function checkSignedRequest(
  e: Extract<ConsentEntry, { action: 'grant' | 'revoke' }>,
  i: number,
  where: { gatewayId: string; meterId: string },
  lastSeq: number,
): number {
  const body = Buffer.from(e.request.body, 'utf8');
  const signer = publicKeyFromRaw(e.signer, 'Ed25519');
  if (!verify(null, body, signer, Buffer.from(e.request.sig, 'base64url'))) {
    throw broken(i, 'its request is not signed by the key it names');
  }
  const schema = e.action === 'grant' ? ConsentGrantRequest : ConsentRevokeRequest;
  const parsed = schema.safeParse(JSON.parse(e.request.body));
  if (!parsed.success) throw broken(i, `its request is not a ${e.action}`);
  const r = parsed.data;
  if (r.gatewayId !== where.gatewayId || r.meterId !== where.meterId) {
    throw broken(i, 'its request is for another gateway or meter');
  }
  const id = r.type === 'consent-grant' ? consentIdOf(e.request.body) : r.consentId;
  if (id !== e.consentId) throw broken(i, 'its consent id is not that of its request');
  if (r.seq <= lastSeq) throw broken(i, 'its request is older than the one before it (replayed)');
  return r.seq;
}

/** A consent in force, with what the gateway needs to serve it. */
export interface ConsentState extends ActiveConsent {
  granteeKey: string;
  fromMs: number;
  untilMs: number;
  granularity: Granularity;
  stream: string;
}

/** The consents a (checked) chain grants and has not revoked or ended; in force while `untilMs` is ahead. */
export function standingConsents(
  entries: readonly ConsentEntry[],
  where: { gatewayId: string; meterId: string; prefix: string },
): ConsentState[] {
  const grants = new Map<string, ConsentState>();
  for (const e of entries) {
    if (e.action !== 'grant') {
      grants.delete(e.consentId);
      continue;
    }
    const r = ConsentGrantRequest.parse(JSON.parse(e.request.body));
    const stream = sharedStreamName(where.gatewayId, where.meterId, e.consentId, r.grantee.sealing);
    grants.set(e.consentId, {
      id: e.consentId,
      grantee: r.grantee.name,
      granteeFingerprint: granteeFingerprint(r.grantee.sealing),
      granteeKey: r.grantee.sealing,
      granularity: r.granularity,
      from: e.at,
      until: r.until,
      fromMs: Date.parse(e.at),
      untilMs: Date.parse(r.until),
      stream,
      topic: topics.customerShared(where.prefix, stream),
    });
  }
  return [...grants.values()];
}
