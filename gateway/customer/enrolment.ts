/**
 * Checking a household's signed request and applying an enrolment (docs/customers.md §Enrolment). A request is
 * accepted only if it parses, its signature verifies with the key it enrols (proof of possession), its proof
 * verifies with the meter's enrolment code key or with the key enrolled now, and its sequence number is above
 * every one seen for the meter. Each refusal has its code and changes nothing; remote configuration has no path
 * here, so it can never set or change a household's key.
 */
import { verify } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { CustomerRequest, CustomerRequestMessage, type EnrolRequest } from '../protocol/customer-messages.ts';
import { customerPseudonym, customerPublicKeyObjects } from './customer-key.ts';
import type { CustomerStore, EnrolledCustomer } from './customer-store.ts';
import type { EnrolmentCodes } from './enrolment-codes.ts';
import { publicKeyFromRaw } from './raw-keys.ts';

export interface SignedRequest {
  request: CustomerRequest;
  body: Buffer;
  sig: Buffer;
  proof: Buffer | undefined;
}

/** Parses a request message; MESSAGE_MALFORMED for anything that is not one. */
export function parseRequest(raw: Buffer): SignedRequest {
  let message;
  try {
    message = CustomerRequestMessage.parse(JSON.parse(raw.toString('utf8')));
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', 'not a v1 customer request message', { cause });
  }
  let request;
  try {
    request = CustomerRequest.parse(JSON.parse(message.body));
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', 'request body is not a known request', { cause });
  }
  return {
    request,
    body: Buffer.from(message.body, 'utf8'),
    sig: Buffer.from(message.sig, 'base64url'),
    proof: message.proof === undefined ? undefined : Buffer.from(message.proof, 'base64url'),
  };
}

export interface EnrolmentContext {
  gatewayId: string;
  meters: ReadonlySet<string>;
  codes: EnrolmentCodes | undefined;
  store: CustomerStore;
  now: number;
}

/** Verifies an enrolment and records it; returns the enrolled household. Throws a coded GatewayError. */
export function applyEnrolment(
  signed: SignedRequest & { request: EnrolRequest },
  ctx: EnrolmentContext,
): EnrolledCustomer {
  const r = signed.request;
  if (!ctx.meters.has(r.meterId))
    throw new GatewayError('ENROLMENT_REFUSED', `no meter "${r.meterId}" on this gateway`);
  const keys = customerPublicKeyObjects(r.keys);
  if (!verify(null, signed.body, keys.signing, signed.sig)) {
    throw new GatewayError('SIGNATURE_INVALID', 'request not signed by the key it enrols');
  }
  if (!signed.proof) throw new GatewayError('ENROLMENT_REFUSED', 'an enrolment needs a proof');
  const current = ctx.store.get(r.meterId);
  const authority = r.authority === 'code' ? ctx.codes?.get(r.meterId) : current?.keys.signing;
  if (!authority) {
    throw new GatewayError(
      'ENROLMENT_REFUSED',
      r.authority === 'code'
        ? 'no enrolment code is registered for this meter (scripts/keygen enrolment-code)'
        : 'no key is enrolled for this meter yet: enrol with the code',
    );
  }
  if (!verify(null, signed.body, publicKeyFromRaw(authority, 'Ed25519'), signed.proof)) {
    throw new GatewayError(
      'ENROLMENT_REFUSED',
      r.authority === 'code' ? 'wrong enrolment code' : 'proof not signed by the enrolled key',
    );
  }
  const last = ctx.store.lastSeq(r.meterId);
  if (r.seq <= last) throw new GatewayError('REQUEST_REPLAYED', `sequence number ${r.seq} not above ${last}`);
  const customer: EnrolledCustomer = {
    meterId: r.meterId,
    keys: r.keys,
    pseudonym: customerPseudonym(ctx.gatewayId, r.keys),
    enrolledAt: ctx.now,
  };
  ctx.store.enrol(customer, r.seq);
  return customer;
}
