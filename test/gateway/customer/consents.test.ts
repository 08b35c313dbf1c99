/**
 * Consents on a real SQLite buffer, with requests built by the household tool's own code: a grant takes effect
 * and is logged; an expired, over-long or over-the-limit grant and a revoke of an unknown consent are refused
 * with their codes and change nothing; the log is append-only in the file itself; the household's check of the
 * chain catches every kind of tampering; a household revoked by a new code has its consents ended on the log.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { ConsentLog } from '../../../gateway/customer/consent-log.ts';
import { Consents, MAX_CHANGES_PER_DAY, MAX_CONSENTS } from '../../../gateway/customer/consents.ts';
import { generateCustomerKeys, type CustomerKeys } from '../../../gateway/customer/customer-key.ts';
import type { EnrolledCustomer } from '../../../gateway/customer/customer-store.ts';
import { parseRequest } from '../../../gateway/customer/enrolment.ts';
import { rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import {
  chainEntry,
  entryHash,
  GENESIS,
  verifyConsentChain,
} from '../../../gateway/protocol/consent-chain.ts';
import type { ConsentLogLine } from '../../../gateway/protocol/customer-messages.ts';
import { consentGrantRequest, consentRevokeRequest } from '../../../scripts/lib/customer/client.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const GW = 'gw-1';
const T = Date.parse('2026-11-24T12:00:00Z');
const DAY = 86_400_000;
const where = { gatewayId: GW, meterId: 'm1' };
/** Requests' sequence numbers, increasing as the tool's are (the service refuses any other before this point). */
let seq = T;
const nextSeq = () => ++seq;

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

const grantee = () => rawPublicKey(generateKeyPairSync('x25519').publicKey);

function setup() {
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  buffers.push(buffer);
  const keys = generateCustomerKeys();
  const customer: EnrolledCustomer = {
    meterId: 'm1',
    keys: keys.publicKeys,
    pseudonym: 'p'.repeat(32),
    codeKey: 'code-key-1',
    enrolledAt: T,
  };
  const consents = new Consents(
    { gatewayId: GW, prefix: 'ms/v1', intervalMinutes: 30 },
    new ConsentLog(buffer.db),
  );
  const logRows = () => buffer.db.prepare('SELECT * FROM consent_log ORDER BY idx').all();
  return { buffer, keys, customer, consents, logRows };
}

function grant(
  s: ReturnType<typeof setup>,
  o: { until?: number; now?: number; keys?: CustomerKeys; granularity?: 'hourly' | 'daily' } = {},
) {
  const { message } = consentGrantRequest({
    ...where,
    keys: o.keys ?? s.keys,
    grantee: { name: 'Energy coach', sealing: grantee() },
    granularity: o.granularity ?? 'hourly',
    until: o.until ?? T + 30 * DAY,
    now: nextSeq(),
  });
  const signed = parseRequest(Buffer.from(message));
  if (signed.request.type !== 'consent-grant') throw new Error('not a grant');
  return s.consents.grant(signed, signed.request, s.customer, o.now ?? T);
}

function revoke(s: ReturnType<typeof setup>, consentId: string, now = T + 1000) {
  const { message } = consentRevokeRequest({ ...where, keys: s.keys, consentId, now: nextSeq() });
  const signed = parseRequest(Buffer.from(message));
  if (signed.request.type !== 'consent-revoke') throw new Error('not a revoke');
  s.consents.revoke(signed, signed.request, s.customer, now);
}

describe('consents', () => {
  it('a grant is in force until its time, logged with the signed request, and ends when revoked', () => {
    const s = setup();
    const c = grant(s, { until: T + 2 * DAY });
    expect(c).toMatchObject({
      granularity: 'hourly',
      grantee: 'Energy coach',
      from: new Date(T).toISOString(),
    });
    expect(c.topic).toBe(`ms/v1/c/${c.stream}/shared`);
    expect(s.consents.active('m1', T + DAY).map((x) => x.id)).toEqual([c.id]);
    expect(s.consents.active('m1', T + 2 * DAY)).toEqual([]);
    expect(s.consents.active('m2', T)).toEqual([]);

    revoke(s, c.id);
    expect(s.consents.active('m1', T + DAY)).toEqual([]);
    const entries = verifyConsentChain(s.consents.lines(s.customer), where);
    expect(entries.map((e) => [e.index, e.action, e.consentId])).toEqual([
      [0, 'grant', c.id],
      [1, 'revoke', c.id],
    ]);
    // Rebuilt from the file alone (a restart): the same, nothing in force.
    const again = new Consents(
      { gatewayId: GW, prefix: 'ms/v1', intervalMinutes: 30 },
      new ConsentLog(s.buffer.db),
    );
    again.load(s.customer);
    expect(again.active('m1', T + DAY)).toEqual([]);
  });

  it('refuses an expired, an over-long or one grant too many, and a revoke of what is not in force: nothing logged', () => {
    const s = setup();
    expectCode('CONSENT_EXPIRED', () => grant(s, { until: T - 1 }));
    expectCode('CONSENT_EXPIRED', () => grant(s, { until: T }));
    expectCode('CONSENT_INVALID', () => grant(s, { until: T + 367 * DAY }));
    expectCode('CONSENT_UNKNOWN', () => revoke(s, 'a'.repeat(20)));
    expect(s.logRows()).toEqual([]);

    const ids = Array.from({ length: MAX_CONSENTS }, () => grant(s).id);
    const before = s.logRows();
    expectCode('CONSENT_LIMIT', () => grant(s));
    expect(s.logRows()).toEqual(before);
    // Revoked once, a consent cannot be revoked again (it is no longer in force).
    revoke(s, ids[0]!);
    expectCode('CONSENT_UNKNOWN', () => revoke(s, ids[0]!, T + 2000));
  });

  it('refuses hourly sums of intervals that do not divide an hour, and a household changing consents in a loop', () => {
    const s = setup();
    const odd = new Consents(
      { gatewayId: GW, prefix: 'ms/v1', intervalMinutes: 45 },
      new ConsentLog(s.buffer.db),
    );
    const { message } = consentGrantRequest({
      ...where,
      keys: s.keys,
      grantee: { name: 'Coach', sealing: grantee() },
      granularity: 'hourly',
      until: T + DAY,
      now: T,
    });
    const signed = parseRequest(Buffer.from(message));
    if (signed.request.type !== 'consent-grant') throw new Error('not a grant');
    expectCode('CONSENT_INVALID', () => odd.grant(signed, signed.request as never, s.customer, T));

    for (let i = 0; i < MAX_CHANGES_PER_DAY / 2; i++) revoke(s, grant(s, { now: T + i }).id, T + i);
    const before = s.logRows();
    expectCode('CONSENT_LIMIT', () => grant(s, { now: T + 100 }));
    expect(s.logRows()).toEqual(before);
    // A day later the household may change its consents again.
    expect(grant(s, { now: T + DAY + 1000, until: T + 3 * DAY }).granularity).toBe('hourly');
  });

  it('the log is append-only in the database file itself', () => {
    const s = setup();
    grant(s);
    expect(() => s.buffer.db.prepare("UPDATE consent_log SET entry = '{}'").run()).toThrow(/append-only/);
    expect(() => s.buffer.db.prepare('DELETE FROM consent_log').run()).toThrow(/append-only/);
    expect(s.logRows()).toHaveLength(1);
  });

  it("a household revoked by a new code has its consents ended on its log; the next tenancy's log starts empty", () => {
    const s = setup();
    const a = grant(s);
    const b = grant(s, { granularity: 'daily' });
    expect(s.consents.endAll(s.customer, 'new code', T + 5000)).toEqual([a.id, b.id]);
    expect(s.consents.active('m1', T + 6000)).toEqual([]);
    const entries = verifyConsentChain(s.consents.lines(s.customer), where);
    expect(entries.slice(2).map((e) => [e.action, e.consentId])).toEqual([
      ['end', a.id],
      ['end', b.id],
    ]);
    expect(s.consents.lines({ ...s.customer, codeKey: 'code-key-2' })).toEqual([]);
  });
});

describe("the household's check of the chain", () => {
  function chain() {
    const s = setup();
    const c = grant(s);
    revoke(s, c.id);
    grant(s, { granularity: 'daily' });
    return { s, lines: s.consents.lines(s.customer) };
  }
  const rehash = (entry: string): ConsentLogLine => ({ entry, hash: entryHash(entry) });

  it('accepts the chain as the gateway wrote it', () => {
    expect(verifyConsentChain(chain().lines, where)).toHaveLength(3);
  });

  it('catches an edited entry, a removed entry, reordering, a foreign signature and another meter', () => {
    const { s, lines } = chain();
    const edited = lines.map((l, i) => (i === 1 ? { ...l, entry: l.entry.replace('revoke', 'grant') } : l));
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain(edited, where));
    // Edited and re-hashed: the next entry no longer follows it.
    const rehashed = lines.map((l, i) =>
      i === 0 ? rehash(l.entry.replace('Energy coach', 'Energy c0ach')) : l,
    );
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain(rehashed, where));
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain([lines[0]!, lines[2]!], where));
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain([lines[1]!, lines[0]!, lines[2]!], where));
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain(lines, { ...where, meterId: 'm2' }));

    // A revoked consent brought back by appending its grant again (someone who dropped the triggers): caught,
    // as the grant is there twice and its request is older than the revoke's.
    const grantEntry = JSON.parse(lines[0]!.entry) as {
      consentId: string;
      request: { body: string; sig: string };
      signer: string;
    };
    const resurrected = chainEntry(3, lines[2]!.hash, new Date(T).toISOString(), {
      action: 'grant',
      consentId: grantEntry.consentId,
      request: grantEntry.request,
      signer: grantEntry.signer,
    });
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain([...lines, resurrected], where));

    // A whole chain forged by someone without the household's key (the gateway itself, say): its entries name
    // the forger's key, which is not the household's, or carry a signature that does not verify.
    const forger = generateCustomerKeys();
    const first = JSON.parse(lines[0]!.entry) as { consentId: string; request: { body: string } };
    const forgedSig = sign(null, Buffer.from(first.request.body), forger.signingPrivate).toString(
      'base64url',
    );
    const forged = chainEntry(0, GENESIS, new Date(T).toISOString(), {
      action: 'grant',
      consentId: first.consentId,
      request: { body: first.request.body, sig: forgedSig },
      signer: s.keys.publicKeys.signing,
    });
    expectCode('CONSENT_LOG_INVALID', () => verifyConsentChain([forged], where));
  });
});
