/**
 * The check every household request but enrolment passes (history, erase): the meter exists and has a household
 * enrolled, the request is signed by that household's enrolled key, and its sequence number is new. The sequence
 * number is then recorded, so the same request is never served twice.
 */
import { verify } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { CustomerStore, EnrolledCustomer } from './customer-store.ts';
import { checkAddressed, type SignedRequest } from './enrolment.ts';
import { publicKeyFromRaw } from './raw-keys.ts';

export function authorise(
  signed: SignedRequest,
  store: CustomerStore,
  gatewayId: string,
  now: number,
): EnrolledCustomer {
  const r = signed.request;
  checkAddressed(r, gatewayId, now);
  const customer = store.get(r.meterId);
  if (!customer)
    throw new GatewayError('ENROLMENT_REFUSED', `no household is enrolled for meter "${r.meterId}"`);
  if (!verify(null, signed.body, publicKeyFromRaw(customer.keys.signing, 'Ed25519'), signed.sig)) {
    throw new GatewayError('SIGNATURE_INVALID', "request not signed by the meter's enrolled household key");
  }
  const last = store.lastSeq(r.meterId);
  if (r.seq <= last) throw new GatewayError('REQUEST_REPLAYED', `sequence number ${r.seq} not above ${last}`);
  store.noteSeq(r.meterId, r.seq);
  return customer;
}
