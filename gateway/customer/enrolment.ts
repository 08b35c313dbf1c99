/**
 * Checking a household's signed request and applying an enrolment (docs/customers.md §Enrolment). A request is
 * accepted only if it parses, its signature verifies with the key it enrols (proof of possession), its proof
 * verifies with the meter's enrolment code key or with the key enrolled now, and its sequence number is above
 * every one seen for the meter. Each refusal has its code and changes nothing; remote configuration has no path
 * here, so it can never set or change a household's key.
 */
import { verify, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import {
  CustomerRequest,
  CustomerRequestMessage,
  requestAad,
  SealedRequestMessage,
  type EnrolRequest,
} from '../protocol/customer-messages.ts';
import { open } from './seal.ts';
import { customerPseudonym, customerPublicKeyObjects } from './customer-key.ts';
import type { CustomerStore, EnrolledCustomer } from './customer-store.ts';
import type { EnrolmentCodes } from './enrolment-codes.ts';
import { publicKeyFromRaw } from './raw-keys.ts';
import { deviceLabel } from '../devices/device-label.ts';

export interface SignedRequest {
  request: CustomerRequest;
  body: Buffer;
  sig: Buffer;
  proof: Buffer | undefined;
}

/**
 * A request message as it came: sealed to the gateway's request key ({"v":1,"sealed"}), opened here, or plain.
 * SEAL_INVALID when a sealed one does not open (not sealed to this gateway, or tampered with).
 */
export function openRequest(
  raw: Buffer,
  key: KeyObject,
  gatewayId: string,
): { message: Buffer; sealed: boolean } {
  let outer: unknown;
  try {
    outer = JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', 'not a v1 customer request message', { cause });
  }
  const sealed = SealedRequestMessage.safeParse(outer);
  if (!sealed.success) return { message: raw, sealed: false };
  return { message: open(key, sealed.data.sealed, requestAad(gatewayId)), sealed: true };
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

/**
 * The durable record of used codes and retired meters (the buffer's device store, issue #14): a code's use
 * survives the household's revocation and the meter's removal.
 */
export interface CodeLedger {
  codeUsed(codeKey: string): boolean;
  markCodeUsed(codeKey: string, meterId: string, now: number): void;
  /** True for a meter id removed or re-homed: its code is refused (a new one is issued on site for a new id). */
  retired(meterId: string): boolean;
  /** The device a meter id is bound to now (its reported identity, else its source); undefined before it is read. */
  identityOf(meterId: string): string | undefined;
  /** The meter id a device identity is bound to, if any. */
  boundMeter(identity: string): string | undefined;
}

export interface EnrolmentContext {
  gatewayId: string;
  meters: ReadonlySet<string>;
  codes: EnrolmentCodes | undefined;
  /** Absent: only the enrolled household's own code key is remembered (the customer store). */
  ledger?: CodeLedger;
  store: CustomerStore;
  now: number;
}

/** How far ahead of the gateway's clock a request's sequence number (milliseconds) may be. */
const MAX_SEQ_AHEAD_MS = 10 * 60_000;

/**
 * A request must name this gateway (no replay to another one where the same key is enrolled), and its sequence
 * number may not run ahead of the gateway's clock: one request from a clock set years ahead would otherwise lock
 * the meter's household out for good.
 */
export function checkAddressed(r: { gatewayId: string; seq: number }, gatewayId: string, now: number): void {
  if (r.gatewayId !== gatewayId) {
    throw new GatewayError(
      'REQUEST_REFUSED',
      `request is for gateway "${r.gatewayId}", this is "${gatewayId}"`,
    );
  }
  if (r.seq > now + MAX_SEQ_AHEAD_MS) {
    throw new GatewayError(
      'REQUEST_REFUSED',
      "request's sequence number is ahead of the gateway's clock: check the clock of the device that sent it",
    );
  }
}

/** Verifies an enrolment and records it; returns the enrolled household. Throws a coded GatewayError. */
export function applyEnrolment(
  signed: SignedRequest & { request: EnrolRequest },
  ctx: EnrolmentContext,
): EnrolledCustomer {
  const r = signed.request;
  checkAddressed(r, ctx.gatewayId, ctx.now);
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
  // A code enrols once: the household it enrolled re-keys with its key; anyone else needs a new code.
  if (r.authority === 'code' && current?.codeKey === authority) {
    throw new GatewayError(
      'ENROLMENT_REFUSED',
      'this enrolment code has been used: re-key with the enrolled key, or ask the installer for a new code',
    );
  }
  if (r.authority === 'code' && ctx.ledger?.retired(r.meterId)) {
    throw new GatewayError('ENROLMENT_REFUSED', `meter id ${r.meterId} is retired: its code is void`);
  }
  if (r.authority === 'code' && ctx.ledger?.codeUsed(authority)) {
    throw new GatewayError(
      'ENROLMENT_CODE_USED',
      'this enrolment code has been used (it enrols once, even after a revocation): ask the installer for a new code',
    );
  }
  if (r.authority === 'code') checkCodeDevice(r.meterId, ctx.codes?.devices?.get(r.meterId), ctx.ledger);
  const customer: EnrolledCustomer = {
    meterId: r.meterId,
    keys: r.keys,
    pseudonym: customerPseudonym(ctx.gatewayId, r.meterId, r.keys),
    codeKey: r.authority === 'code' ? authority : current!.codeKey,
    enrolledAt: ctx.now,
  };
  ctx.store.enrol(customer, r.seq);
  if (r.authority === 'code') ctx.ledger?.markCodeUsed(authority, r.meterId, ctx.now);
  return customer;
}

/**
 * A code issued for a device (scripts/keygen read the meter's binding on site) enrols only while that device is
 * bound to the meter id: otherwise the code would follow an id to another device, or a device to another id.
 * A code issued unbound is pinned to the meter's device at its use (CodeLedger.markCodeUsed).
 */
function checkCodeDevice(meterId: string, device: string | undefined, ledger: CodeLedger | undefined): void {
  if (device === undefined || ledger?.boundMeter(device) === meterId) return;
  const now = ledger?.identityOf(meterId);
  throw new GatewayError(
    'ENROLMENT_DEVICE_MISMATCH',
    `this code was issued for meter ${meterId} on ${deviceLabel(device)}, but the gateway has ` +
      (now === undefined ? 'not read that device under this id' : `bound ${meterId} to ${deviceLabel(now)}`) +
      ': ask the installer for a new code',
  );
}
