/**
 * Enrolment of a household's keys on a real SQLite buffer: with the meter's code, re-keying with the enrolled key,
 * and every refusal (wrong code, replay, signature by another key, unknown meter, no code registered, re-keying by
 * a key that is not the enrolled one) with its code and nothing changed. Requests are built by the customer
 * tool's own code.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadEnrolmentCodes,
  removeEnrolmentCodes,
  storeEnrolmentCode,
} from '../../../gateway/customer/enrolment-codes.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import {
  customerFingerprint,
  customerPseudonym,
  generateCustomerKeys,
} from '../../../gateway/customer/customer-key.ts';
import {
  codeKeyPair,
  generateEnrolmentCode,
  normaliseCode,
} from '../../../gateway/customer/enrolment-code.ts';
import { applyEnrolment, parseRequest, type EnrolmentContext } from '../../../gateway/customer/enrolment.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { authorise } from '../../../gateway/customer/authorise.ts';
import { enrolRequest, historyRequest, meterRequest } from '../../../scripts/lib/customer/client.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const GW = 'gw-1';
const T = Date.parse('2026-11-24T12:00:00Z');
const code = generateEnrolmentCode();
const codes = new Map([['m1', codeKeyPair(code, GW, 'm1').publicKey]]);

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

function setup() {
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  buffers.push(buffer);
  const ctx: EnrolmentContext = {
    gatewayId: GW,
    meters: new Set(['m1', 'm2']),
    codes,
    store: buffer.customers,
    now: T,
  };
  const apply = (message: string) => {
    const signed = parseRequest(Buffer.from(message));
    const request = signed.request;
    if (request.type !== 'enrol') throw new Error('not an enrolment');
    return applyEnrolment({ ...signed, request }, ctx);
  };
  const snapshot = () => ({
    customers: buffer.db.prepare('SELECT * FROM customers').all(),
    seq: buffer.db.prepare('SELECT * FROM customer_seq').all(),
  });
  return { buffer, ctx, apply, snapshot };
}

const byCode = (keys = generateCustomerKeys(), o: { now?: number; meterId?: string; code?: string } = {}) =>
  enrolRequest({
    gatewayId: GW,
    meterId: o.meterId ?? 'm1',
    keys,
    authority: { kind: 'code', code: o.code ?? code },
    now: o.now ?? T,
  });

describe('enrolment codes', () => {
  it('are 16 Crockford base-32 characters in groups of four, read leniently', () => {
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    expect(normaliseCode(code.toLowerCase().replace(/-/g, ' '))).toBe(code.replace(/-/g, ''));
    expect(normaliseCode('OOOO-IIII-LLLL-0000')).toBe('0000111111110000');
    expectCode('ENROLMENT_CODE_INVALID', () => normaliseCode('ABCD-EFGH'));
    expectCode('ENROLMENT_CODE_INVALID', () => normaliseCode('ABCD-EFGH-JKMN-PQRU')); // U is not in the alphabet
  });

  it('stand for a key that depends on the gateway and the meter (a code is good for one meter only)', () => {
    const a = codeKeyPair(code, GW, 'm1').publicKey;
    expect(codeKeyPair(code.toLowerCase(), GW, 'm1').publicKey).toBe(a);
    expect(codeKeyPair(code, GW, 'm2').publicKey).not.toBe(a);
    expect(codeKeyPair(code, 'gw-2', 'm1').publicKey).not.toBe(a);
  });
});

describe('applyEnrolment', () => {
  it('enrols a household with the right code, under a pseudonym derived from its key', () => {
    const s = setup();
    const keys = generateCustomerKeys();
    const enrolled = s.apply(byCode(keys).message);
    expect(enrolled).toEqual({
      meterId: 'm1',
      keys: keys.publicKeys,
      pseudonym: customerPseudonym(GW, 'm1', keys.publicKeys),
      codeKey: codes.get('m1'),
      enrolledAt: T,
    });
    expect(s.buffer.customers.get('m1')).toEqual(enrolled);
    expect(enrolled.pseudonym).toMatch(/^[0-9a-f]{32}$/);
    expect(customerFingerprint(keys.publicKeys)).toMatch(/^([0-9a-f]{4} ){9}[0-9a-f]{4}$/);
  });

  it('re-keys with a proof by the enrolled key; a used code is refused, a new code enrols', () => {
    const s = setup();
    const first = generateCustomerKeys();
    s.apply(byCode(first).message);
    const second = generateCustomerKeys();
    const rekey = enrolRequest({
      gatewayId: GW,
      meterId: 'm1',
      keys: second,
      authority: { kind: 'current-key', current: first },
      now: T + 1,
    });
    const after = s.apply(rekey.message);
    expect(after.keys).toEqual(second.publicKeys);
    expect(after.pseudonym).not.toBe(customerPseudonym(GW, 'm1', first.publicKeys));
    expect(after.codeKey).toBe(codes.get('m1'));
    // The code enrolled the first key: it does not enrol another (a previous tenant's paper is worthless).
    const third = generateCustomerKeys();
    expectCode('ENROLMENT_REFUSED', () => s.apply(byCode(third, { now: T + 2 }).message));
    // A new code from the installer does.
    const newCode = generateEnrolmentCode();
    s.ctx.codes = new Map([['m1', codeKeyPair(newCode, GW, 'm1').publicKey]]);
    const renewed = s.apply(byCode(third, { now: T + 3, code: newCode }).message);
    expect(renewed.keys).toEqual(third.publicKeys);
    expect(renewed.codeKey).toBe(codeKeyPair(newCode, GW, 'm1').publicKey);
  });

  it('refuses a request for another gateway, and a sequence number ahead of the clock (REQUEST_REFUSED)', () => {
    const s = setup();
    const keys = generateCustomerKeys();
    const elsewhere = enrolRequest({
      gatewayId: 'gw-2',
      meterId: 'm1',
      keys,
      authority: { kind: 'code', code },
      now: T,
    });
    expectCode('REQUEST_REFUSED', () => s.apply(elsewhere.message));
    expectCode('REQUEST_REFUSED', () => s.apply(byCode(keys, { now: T + 86_400_000 }).message));
    expect(s.buffer.customers.get('m1')).toBeUndefined();
    expect(s.buffer.customers.lastSeq('m1')).toBe(0);
  });

  it('refuses, with its code and changing nothing: wrong code, replay, foreign signature, unknown meter, no code', () => {
    const s = setup();
    const keys = generateCustomerKeys();
    const good = byCode(keys);
    s.apply(good.message);
    const before = s.snapshot();

    const wrongCode = generateEnrolmentCode();
    expectCode('ENROLMENT_REFUSED', () =>
      s.apply(byCode(generateCustomerKeys(), { code: wrongCode, now: T + 5 }).message),
    );
    // The very same message again, and an older sequence number with a valid proof.
    expectCode('REQUEST_REPLAYED', () => s.apply(good.message));
    expectCode('REQUEST_REPLAYED', () => s.apply(byCode(generateCustomerKeys(), { now: T - 1 }).message));
    // Signed by a key other than the one it enrols (no proof of possession).
    const forged = JSON.parse(byCode(generateCustomerKeys(), { now: T + 6 }).message) as { sig: string };
    forged.sig = (JSON.parse(byCode(generateCustomerKeys(), { now: T + 6 }).message) as { sig: string }).sig;
    expectCode('SIGNATURE_INVALID', () => s.apply(JSON.stringify(forged)));
    expectCode('ENROLMENT_REFUSED', () =>
      s.apply(byCode(generateCustomerKeys(), { meterId: 'm9', now: T + 7 }).message),
    );
    // m2 has no code registered, and nobody to re-key from.
    expectCode('ENROLMENT_REFUSED', () =>
      s.apply(byCode(generateCustomerKeys(), { meterId: 'm2', now: T + 8 }).message),
    );
    const stranger = generateCustomerKeys();
    const hijack = enrolRequest({
      gatewayId: GW,
      meterId: 'm1',
      keys: generateCustomerKeys(),
      authority: { kind: 'current-key', current: stranger },
      now: T + 9,
    });
    expectCode('ENROLMENT_REFUSED', () => s.apply(hijack.message));
    expectCode('MESSAGE_MALFORMED', () => s.apply('{"v":1,"body":"{}","sig":"AA"}'));
    expectCode('MESSAGE_MALFORMED', () => s.apply('not json'));
    expect(s.snapshot()).toEqual(before);
  });
});

describe('authorise (history and erase requests)', () => {
  it("serves only the enrolled household's signed, fresh requests", () => {
    const s = setup();
    const keys = generateCustomerKeys();
    s.apply(byCode(keys).message);
    const check = (message: string) =>
      authorise(parseRequest(Buffer.from(message)), s.buffer.customers, GW, T);
    const history = historyRequest({
      gatewayId: GW,
      meterId: 'm1',
      keys,
      from: T - 86_400_000,
      to: T,
      now: T + 10,
    });
    expect(check(history.message).meterId).toBe('m1');
    expectCode('REQUEST_REPLAYED', () => check(history.message));
    const other = generateCustomerKeys();
    expectCode('SIGNATURE_INVALID', () =>
      check(meterRequest('erase', { gatewayId: GW, meterId: 'm1', keys: other, now: T + 20 }).message),
    );
    expectCode('ENROLMENT_REFUSED', () =>
      check(meterRequest('info', { gatewayId: GW, meterId: 'm2', keys, now: T + 30 }).message),
    );
    expect(
      check(meterRequest('erase', { gatewayId: GW, meterId: 'm1', keys, now: T + 40 }).message).keys,
    ).toEqual(keys.publicKeys);
    expect(s.buffer.customers.lastSeq('m1')).toBe(T + 40);
  });
});

describe('used codes, kept in the buffer (issue #14 "Why" 2)', () => {
  /** The gateway's ledger: the device store of the same buffer. */
  function withLedger() {
    const s = setup();
    const devices = s.buffer.devices;
    s.ctx.ledger = {
      codeUsed: (key) => devices.codeUsed(key),
      markCodeUsed: (key, meter, now) => devices.markCodeUsed(key, meter, now),
      retired: (meter) => devices.meter(meter)?.state === 'retired',
      identityOf: (meter) => devices.identityOf(meter),
      boundMeter: (identity) => devices.boundMeter(identity),
    };
    return s;
  }

  it('never enrol again once used, even after the household is revoked', () => {
    const s = withLedger();
    s.buffer.devices.bindSources({ id: 'm1', neighbourhood: 'north' }, ['replay:/d.csv#1'], T);
    s.apply(byCode(generateCustomerKeys()).message);
    expect(s.buffer.db.prepare('SELECT meter_id, identity FROM used_enrolment_codes').all()).toEqual([
      { meter_id: 'm1', identity: 'replay:/d.csv#1' },
    ]);
    s.buffer.customers.revoke('m1');
    expect(s.buffer.customers.get('m1')).toBeUndefined();
    expectCode('ENROLMENT_CODE_USED', () => s.apply(byCode(generateCustomerKeys(), { now: T + 1 }).message));
  });

  it("refuse the code of a retired meter id, and the codes file loses a removed meter's code", () => {
    const s = withLedger();
    s.buffer.devices.retire([{ id: 'm1', neighbourhood: 'north' }], [], T);
    expectCode('ENROLMENT_REFUSED', () => s.apply(byCode(generateCustomerKeys()).message));
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'codes-')), 'enrolment-codes.json');
    storeEnrolmentCode(file, 'm1', codes.get('m1')!);
    storeEnrolmentCode(file, 'm2', codeKeyPair(code, GW, 'm2').publicKey);
    expect(removeEnrolmentCodes(file, ['m1', 'm9'])).toEqual(['m1']);
    expect([...loadEnrolmentCodes(file).keys()]).toEqual(['m2']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(removeEnrolmentCodes(file, ['m1'])).toEqual([]);
  });
});
