/**
 * Households' consents to third parties (docs/customers.md §Consent): a grant, signed by the household's
 * enrolled key, lets one third party (its X25519 key) receive the household's readings at a granularity until a
 * time; a revoke ends it sooner. Both are checked, written to the tenancy's hash-chained log, and only then take
 * effect; a refused one changes nothing. The consents in force are rebuilt from the log at start, so the log is
 * the only record.
 */
import { GatewayError } from '../errors.ts';
import {
  consentIdOf,
  standingConsents,
  verifyConsentChain,
  type ConsentState,
  type NewConsentEntry,
} from '../protocol/consent-chain.ts';
import type {
  ConsentGrantRequest,
  ConsentLogLine,
  ConsentRevokeRequest,
} from '../protocol/customer-messages.ts';
import type { ConsentLog } from './consent-log.ts';
import type { EnrolledCustomer } from './customer-store.ts';
import type { SignedRequest } from './enrolment.ts';
import { publicKeyFromRaw } from './raw-keys.ts';

/** The longest a consent may last: a household renews it rather than forgetting it for years. */
export const MAX_CONSENT_DAYS = 366;
/** The most consents in force per household at once. */
export const MAX_CONSENTS = 16;
/** The most grants and revokes per household per day, and in all (the log is kept for ever). */
export const MAX_CHANGES_PER_DAY = 20;
export const MAX_LOG_ENTRIES = 1000;

export class Consents {
  /** Per meter: grants not revoked or ended (some may have expired). */
  private readonly standing = new Map<string, ConsentState[]>();

  constructor(
    private readonly where: { gatewayId: string; prefix: string; intervalMinutes: number },
    private readonly log: ConsentLog,
  ) {}

  /** Rebuilds the consents in force of an enrolled household from its log (at start and at enrolment). */
  load(customer: EnrolledCustomer): void {
    // A log that does not check out grants nothing.
    this.standing.delete(customer.meterId);
    const entries = verifyConsentChain(this.log.lines(tenancy(customer)), {
      gatewayId: this.where.gatewayId,
      meterId: customer.meterId,
    });
    this.standing.set(customer.meterId, standingConsents(entries, this.scope(customer.meterId)));
  }

  /** The consents of a meter's household in force at `now`. */
  active(meterId: string, now: number): ConsentState[] {
    return (this.standing.get(meterId) ?? []).filter((c) => c.untilMs > now);
  }

  /** A consent granted and neither revoked nor ended, in force or expired; undefined otherwise. */
  find(consentId: string): ConsentState | undefined {
    for (const list of this.standing.values()) {
      const found = list.find((c) => c.id === consentId);
      if (found) return found;
    }
    return undefined;
  }

  /** The tenancy's whole log, as the household reads it back. */
  lines(customer: EnrolledCustomer): ConsentLogLine[] {
    return this.log.lines(tenancy(customer));
  }

  grant(
    signed: SignedRequest,
    r: ConsentGrantRequest,
    customer: EnrolledCustomer,
    now: number,
  ): ConsentState {
    const until = Date.parse(r.until);
    if (until <= now)
      throw new GatewayError('CONSENT_EXPIRED', `the consent ends at ${r.until}, already past`);
    if (until - now > MAX_CONSENT_DAYS * 86_400_000) {
      throw new GatewayError('CONSENT_INVALID', `a consent lasts at most ${MAX_CONSENT_DAYS} days`);
    }
    if (r.granularity === 'hourly' && 60 % this.where.intervalMinutes !== 0) {
      throw new GatewayError(
        'CONSENT_INVALID',
        `hourly sums need intervals that divide an hour (this gateway's are ${this.where.intervalMinutes} minutes)`,
      );
    }
    // A key the gateway could not seal to (not a point, or of small order) is refused here, not at the first reading.
    publicKeyFromRaw(r.grantee.sealing, 'X25519');
    this.checkRate(customer, now);
    if (this.active(customer.meterId, now).length >= MAX_CONSENTS) {
      throw new GatewayError('CONSENT_LIMIT', `at most ${MAX_CONSENTS} consents in force: revoke one first`);
    }
    const body = signed.body.toString('utf8');
    this.append(customer, now, {
      action: 'grant',
      consentId: consentIdOf(body),
      ...signedBy(signed, customer),
    });
    const made = this.active(customer.meterId, now).find((c) => c.id === consentIdOf(body));
    if (!made) throw new Error('a consent just written is not in force');
    return made;
  }

  revoke(signed: SignedRequest, r: ConsentRevokeRequest, customer: EnrolledCustomer, now: number): void {
    if (!this.active(customer.meterId, now).some((c) => c.id === r.consentId)) {
      throw new GatewayError('CONSENT_UNKNOWN', `no consent ${r.consentId} is in force for this household`);
    }
    this.checkRate(customer, now);
    this.append(customer, now, { action: 'revoke', consentId: r.consentId, ...signedBy(signed, customer) });
  }

  /**
   * Ends every consent of a household that is being revoked (a new enrolment code, its meter removed), on its
   * log; returns their ids (expired ones included: their queued messages must go too).
   */
  endAll(customer: EnrolledCustomer, reason: string, now: number): string[] {
    const standing = this.standing.get(customer.meterId) ?? [];
    const ending = standing.filter((c) => c.untilMs > now);
    if (ending.length > 0) {
      this.log.append(
        tenancy(customer),
        now,
        ending.map((c) => ({ action: 'end', consentId: c.id, reason })),
      );
    }
    this.standing.delete(customer.meterId);
    return standing.map((c) => c.id);
  }

  /** A household changing its consents in a loop would fill the card: a few per day, a thousand in all. */
  private checkRate(customer: EnrolledCustomer, now: number): void {
    const lines = this.log.lines(tenancy(customer));
    if (lines.length >= MAX_LOG_ENTRIES) {
      throw new GatewayError('CONSENT_LIMIT', `the consent log holds ${MAX_LOG_ENTRIES} entries, its most`);
    }
    const today = lines.filter(
      (l) => Date.parse((JSON.parse(l.entry) as { at: string }).at) > now - 86_400_000,
    );
    if (today.length >= MAX_CHANGES_PER_DAY) {
      throw new GatewayError('CONSENT_LIMIT', `at most ${MAX_CHANGES_PER_DAY} consent changes a day`);
    }
  }

  private append(customer: EnrolledCustomer, now: number, entry: NewConsentEntry): void {
    this.log.append(tenancy(customer), now, [entry]);
    this.load(customer);
  }

  private scope(meterId: string) {
    return { ...this.where, meterId };
  }
}

const tenancy = (c: EnrolledCustomer) => ({ meterId: c.meterId, codeKey: c.codeKey });

const signedBy = (signed: SignedRequest, customer: EnrolledCustomer) => ({
  request: { body: signed.body.toString('utf8'), sig: signed.sig.toString('base64url') },
  signer: customer.keys.signing,
});
