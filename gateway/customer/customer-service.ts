/**
 * The households' side of the gateway: answers their signed requests (enrolment, history, erase) and streams
 * each reading of an enrolled meter, sealed to the household's key, on a topic named by its pseudonym, keeping
 * the same sealed value as its history for customers.historyDays. The plaintext reading is sealed the moment it
 * is accepted and never kept (invariant 1); the live stream is best effort (QoS 0, nothing queued while the
 * broker is away): the history is the durable copy.
 */
import type { KeyObject } from 'node:crypto';
import type { ReadingStream } from '../acquire/intake.ts';
import type { Reading } from '../acquire/reading.ts';
import { errorCode, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { signEnvelope } from '../protocol/envelope.ts';
import {
  liveAad,
  livePlaintext,
  type ActiveConsent,
  type ConsentGrantRequest,
  type ConsentRevokeRequest,
  type CustomerInfo,
  type CustomerReply,
  type EnrolRequest,
  type EraseRequest,
  type HistoryRequest,
  type LiveReading,
  type RequestKeyAnnouncement,
  type SealedReply,
  replyAad,
} from '../protocol/customer-messages.ts';
import type { ConsentState } from '../protocol/consent-chain.ts';
import { topics } from '../protocol/topics.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';
import type { MessageLink } from '../uplink/uplink.ts';
import { customerFingerprint } from './customer-key.ts';
import type { CustomerStore, EnrolledCustomer } from './customer-store.ts';
import { authorise } from './authorise.ts';
import type { Consents } from './consents.ts';
import type { SharedStream } from './shared-stream.ts';
import {
  applyEnrolment,
  openRequest,
  parseRequest,
  type CodeLedger,
  type SignedRequest,
} from './enrolment.ts';
import type { HistoryStore, SealedEntry } from './history-store.ts';
import type { EnrolmentCodes } from './enrolment-codes.ts';
import { publicKeyFromRaw, rawPublicKey } from './raw-keys.ts';
import { TokenBucket } from './token-bucket.ts';
import { requestKey } from './request-key.ts';
import { seal } from './seal.ts';

/** The largest household request read (an enrolment is under 1 kB). */
const MAX_REQUEST_BYTES = 16 * 1024;

/** Refusals answered per second (burst 20); beyond, they are only counted (customer.refusals_unanswered). */
const REFUSALS_PER_SECOND = 5;

/** Most sealed readings in one history reply (about 0.9 MB); the household asks again for the rest. */
const HISTORY_PAGE = 5000;

export interface CustomerServiceOptions {
  gatewayId: string;
  prefix: string;
  meters: readonly string[];
  historyDays: number;
  /** Where a meter's data goes upstream, from the configuration (for `info`). */
  upstreamOf: (meterId: string) => CustomerInfo['upstream'] & { intervalMinutes: number };
  /** The enrolment-code hashes as they are now (re-read at each request: codes can be added while running). */
  codes: () => EnrolmentCodes | undefined;
  /** Used codes and retired meters, kept durably (the buffer's device store). */
  ledger?: CodeLedger;
}

export class CustomerService {
  private readonly sealingKeys = new Map<string, { customer: EnrolledCustomer; key: KeyObject }>();
  private meters: ReadonlySet<string>;
  private pending: SealedEntry[] = [];
  private flushScheduled = false;
  private readonly refusals: TokenBucket;
  private readonly requestKey: { privateKey: KeyObject; publicKey: KeyObject };
  /** How the request being handled is answered: sealed (to `to`, when known) if it came sealed. */
  private answer: { sealed: boolean; to: KeyObject | undefined } = { sealed: false, to: undefined };

  constructor(
    private opts: CustomerServiceOptions,
    private readonly store: CustomerStore,
    private readonly history: HistoryStore,
    private readonly link: MessageLink,
    private readonly identity: { privateKey: KeyObject; publicKey: KeyObject },
    private readonly third: { consents: Consents; shared: SharedStream },
    /** Request sequence numbers are judged by the wall clock; consents by the data clock (readings' time). */
    private readonly clocks: { wall: Clock; data: Clock },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.meters = new Set(opts.meters);
    this.requestKey = requestKey(identity.privateKey);
    this.refusals = new TokenBucket(REFUSALS_PER_SECOND, 20, () => clocks.wall.now());
    for (const c of store.all()) this.remember(c);
  }

  /** The gateway's meters and the history's retention, from now on (remote configuration). */
  reconfigure(o: { meters: readonly string[]; historyDays: number }): void {
    this.meters = new Set(o.meters);
    this.opts = { ...this.opts, historyDays: o.historyDays };
    // A meter removed takes its household with it: if the id ever comes back, it is another device.
    for (const { customer } of [...this.sealingKeys.values()]) {
      if (!this.meters.has(customer.meterId)) this.revoke(customer, 'its meter was removed from the gateway');
    }
  }

  start(): void {
    this.link.route(topics.customerRequest(this.opts.prefix, this.opts.gatewayId), (payload) =>
      this.onRequest(payload),
    );
    this.link.onConnect(() => this.announceRequestKey());
  }

  /**
   * Seals a reading to its household, if one is enrolled, and for the third parties it consented to; returns
   * what publishes and keeps those sealed copies, which the intake runs once the reading is committed (so a
   * reading the buffer refuses is neither streamed nor kept). Never throws.
   */
  readonly live: ReadingStream = (reading) => {
    const entry = this.sealingKeys.get(reading.meterId);
    if (!entry) return undefined;
    try {
      const start = isoUtc(reading.start);
      const end = isoUtc(reading.end);
      const pseudonym = entry.customer.pseudonym;
      const body: LiveReading = {
        v: 1,
        type: 'live',
        start,
        end,
        sealed: seal(entry.key, livePlaintext(reading.wh), liveAad(pseudonym, start, end)),
      };
      const shared = this.third.shared.prepare(reading, this.clocks.data.now());
      const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
      const kept: SealedEntry = { ...slotOf(reading), pseudonym, sealed: body.sealed };
      return () => {
        this.keep(kept);
        shared();
        const sent = this.link.publish(topics.customerLive(this.opts.prefix, pseudonym), message, 0);
        this.metrics.inc(sent ? 'customer.live_sent' : 'customer.live_offline');
      };
    } catch (error) {
      this.metrics.inc(`customer.live_failed.${errorCode(error)}`);
      this.log.warn({ meter: reading.meterId, code: errorCode(error) }, 'live reading not sent');
      return undefined;
    }
  };

  /** Writes the sealed readings of this turn to the history, in one transaction. */
  flush(): void {
    this.flushScheduled = false;
    const entries = this.pending;
    this.pending = [];
    try {
      this.history.add(entries);
    } catch (error) {
      // Disk full or read-only: the history misses these; the live stream and everything else go on.
      this.metrics.inc(`customer.history_failed.${errorCode(error)}`, entries.length);
      this.log.warn(
        { code: errorCode(error), readings: entries.length },
        'sealed readings not kept in the history',
      );
    }
  }

  /**
   * A new enrolment code issued for a meter (scripts/keygen enrolment-code, for a new occupant or a lost key)
   * revokes the household enrolled with the old one: it receives nothing more, its history is erased, and the
   * meter's sequence numbers start again. Runs on the tick.
   */
  revokeSuperseded(): void {
    const codes = this.opts.codes();
    if (!codes) return;
    for (const { customer } of [...this.sealingKeys.values()]) {
      const code = codes.get(customer.meterId);
      if (code === undefined || code === customer.codeKey) continue;
      this.revoke(customer, 'a new enrolment code was issued for the meter');
    }
  }

  /** Un-enrols a household: it receives nothing more, its consents end, its history is erased. */
  private revoke(customer: EnrolledCustomer, why: string): void {
    this.flush();
    const ended = this.third.consents.endAll(
      customer,
      `the household was revoked: ${why}`,
      this.clocks.data.now(),
    );
    for (const id of ended) this.third.shared.withdraw(id);
    this.store.revoke(customer.meterId);
    this.sealingKeys.delete(customer.meterId);
    const erased = this.history.erase(customer.meterId);
    this.metrics.inc('customer.revoked');
    this.log.info({ meter: customer.meterId, erased, consentsEnded: ended.length, why }, 'household revoked');
  }

  /**
   * On the tick, with the data clock: closes third parties' spans and deletes history past its retention, unless
   * `prune` is false (a corrupt buffer: nothing is deleted from it, a salvage may need what would go).
   */
  tick(now: number, prune = true): void {
    this.third.shared.tick(now, prune);
    this.revokeSuperseded();
    if (prune) this.prune(now);
  }

  /** Deletes history past its retention (with the data clock). */
  prune(now: number): void {
    const pruned = this.history.prune(now - this.opts.historyDays * 86_400_000);
    if (pruned > 0) this.metrics.inc('customer.history_pruned', pruned);
  }

  private keep(entry: SealedEntry): void {
    this.pending.push(entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private onRequest(payload: Buffer): void {
    let id: string | undefined;
    this.answer = { sealed: false, to: undefined };
    try {
      if (payload.length > MAX_REQUEST_BYTES) {
        throw new GatewayError(
          'MESSAGE_MALFORMED',
          `request of ${payload.length} bytes (at most ${MAX_REQUEST_BYTES})`,
        );
      }
      const opened = openRequest(payload, this.requestKey.privateKey, this.opts.gatewayId);
      this.answer.sealed = opened.sealed;
      const signed = parseRequest(opened.message);
      id = signed.request.id;
      const r = signed.request;
      // An enrolment names the household's key: even a refusal can be sealed to it.
      if (r.type === 'enrol') this.answer.to = sealingKeyOrNone(r.keys.sealing);
      if (r.type === 'enrol') this.enrol({ ...signed, request: r });
      else if (r.type === 'history') this.serveHistory(signed, r);
      else if (r.type === 'erase') this.erase(signed, r);
      else if (r.type === 'consent-grant') this.grant(signed, r);
      else if (r.type === 'consent-revoke') this.revokeConsent(signed, r);
      else if (r.type === 'consents') this.consentLog(signed, r.id);
      else this.info(signed, r.id);
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`customer.rejected.${code}`);
      this.log.warn({ code, reason: (error as Error).message }, 'household request refused');
      // Our own errors explain themselves; anything else (a database error) is not the household's business. A
      // sealed request's refusal that cannot be sealed back says no more than its code.
      const message =
        this.answer.sealed && !this.answer.to
          ? (OPEN_REFUSALS[code] ?? 'the gateway refused the request')
          : error instanceof GatewayError
            ? error.message.slice(0, 500)
            : 'the gateway could not do it';
      if (!id) return;
      if (!this.refusals.take()) return void this.metrics.inc('customer.refusals_unanswered');
      this.reply(id, { ok: false, code: error instanceof GatewayError ? code : 'INTERNAL', message });
    }
  }

  private enrol(signed: SignedRequest & { request: EnrolRequest }): void {
    const r = signed.request;
    const previous = this.store.get(r.meterId);
    const customer = applyEnrolment(signed, {
      gatewayId: this.opts.gatewayId,
      meters: this.meters,
      codes: this.opts.codes(),
      ...(this.opts.ledger ? { ledger: this.opts.ledger } : {}),
      store: this.store,
      now: this.clocks.wall.now(),
    });
    // Enrolled with the code over someone else's key (a new occupant): the old history is not theirs.
    if (r.authority === 'code' && previous && previous.keys.signing !== customer.keys.signing) {
      this.flush();
      this.history.erase(r.meterId);
    }
    // A new tenancy (a new code): the previous household's consents end with it.
    if (previous && previous.codeKey !== customer.codeKey) {
      const ended = this.third.consents.endAll(
        previous,
        'a new household enrolled with a new code',
        this.clocks.data.now(),
      );
      for (const consentId of ended) this.third.shared.withdraw(consentId);
    }
    this.remember(customer);
    const fingerprint = customerFingerprint(customer.keys);
    this.metrics.inc('customer.enrolled');
    this.log.info({ meter: customer.meterId, fingerprint, authority: r.authority }, 'household key enrolled');
    // The household compares the device with the serial on its meter (issue #14: a code is bound to the device).
    const device = this.opts.ledger?.identityOf(customer.meterId);
    this.reply(r.id, { ok: true, fingerprint, pseudonym: customer.pseudonym, ...(device ? { device } : {}) });
  }

  private serveHistory(signed: SignedRequest, r: HistoryRequest): void {
    const customer = this.authorised(signed);
    this.flush();
    const from = Date.parse(r.from);
    const to = Date.parse(r.to);
    const rows = this.history.range(r.meterId, customer.pseudonym, from, to, HISTORY_PAGE + 1);
    const page = rows.slice(0, HISTORY_PAGE);
    this.metrics.inc('customer.history_served');
    this.reply(r.id, {
      ok: true,
      readings: page.map((e) => ({ start: isoUtc(e.start), end: isoUtc(e.end), sealed: e.sealed })),
      more: rows.length > HISTORY_PAGE,
    });
  }

  private erase(signed: SignedRequest, r: EraseRequest): void {
    this.authorised(signed);
    this.flush();
    const erased = this.history.erase(r.meterId);
    this.metrics.inc('customer.history_erased');
    this.log.info({ meter: r.meterId, erased }, "household's history erased at its request");
    this.reply(r.id, { ok: true, erased });
  }

  private info(signed: SignedRequest, id: string): void {
    const customer = this.authorised(signed);
    this.flush();
    const { intervalMinutes, ...upstream } = this.opts.upstreamOf(customer.meterId);
    const info: CustomerInfo = {
      meterId: customer.meterId,
      gatewayId: this.opts.gatewayId,
      enrolledAt: isoUtc(customer.enrolledAt),
      fingerprint: customerFingerprint(customer.keys),
      collected: { quantity: 'energy imported (Wh) per interval', intervalMinutes },
      upstream,
      kept: {
        historyDays: this.opts.historyDays,
        historyReadings: this.history.count(customer.meterId, customer.pseudonym),
        pendingCiphertexts:
          'Paillier ciphertexts (unreadable here) until the supplier acknowledges the sums they are part of',
      },
      consents: this.third.consents.active(customer.meterId, this.clocks.data.now()).map(publicView),
    };
    this.reply(id, { ok: true, info });
  }

  private grant(signed: SignedRequest, r: ConsentGrantRequest): void {
    const customer = this.authorised(signed);
    const made = this.third.consents.grant(signed, r, customer, this.clocks.data.now());
    this.metrics.inc('customer.consent_granted');
    this.log.info(
      { meter: customer.meterId, consent: made.id, granularity: made.granularity, until: made.until },
      'household granted a third party access',
    );
    this.reply(r.id, { ok: true, consent: publicView(made) });
  }

  private revokeConsent(signed: SignedRequest, r: ConsentRevokeRequest): void {
    const customer = this.authorised(signed);
    this.third.consents.revoke(signed, r, customer, this.clocks.data.now());
    this.third.shared.withdraw(r.consentId);
    this.metrics.inc('customer.consent_revoked');
    this.log.info(
      { meter: customer.meterId, consent: r.consentId },
      "household revoked a third party's access",
    );
    this.reply(r.id, { ok: true });
  }

  private consentLog(signed: SignedRequest, id: string): void {
    const customer = this.authorised(signed);
    const active = this.third.consents.active(customer.meterId, this.clocks.data.now()).map(publicView);
    this.reply(id, { ok: true, log: this.third.consents.lines(customer), active });
  }

  /** authorise(), and the household whose key a sealed request's reply is sealed to. */
  private authorised(signed: SignedRequest): EnrolledCustomer {
    const customer = authorise(signed, this.store, this.opts.gatewayId, this.clocks.wall.now());
    this.answer.to = sealingKeyOrNone(customer.keys.sealing);
    return customer;
  }

  /**
   * Every reply names the gateway's key, so that a household's tool can check it on first contact. The reply
   * to a sealed request is sealed to the household's key (when the gateway knows it), so the broker reads
   * nothing of it either.
   */
  private reply(id: string, fields: Omit<CustomerReply, 'v' | 'type' | 'id' | 'gatewayKey'>): void {
    const gatewayKey = rawPublicKey(this.identity.publicKey);
    const inner: CustomerReply = { v: 1, type: 'reply', id, ...fields, gatewayKey };
    const to = this.answer.sealed ? this.answer.to : undefined;
    const body: CustomerReply | SealedReply = to
      ? {
          v: 1,
          type: 'sealed-reply',
          id,
          gatewayKey,
          sealed: seal(to, Buffer.from(JSON.stringify(inner), 'utf8'), replyAad(this.opts.gatewayId, id)),
        }
      : inner;
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    this.link.publish(topics.customerReply(this.opts.prefix, this.opts.gatewayId, id), message, 1);
  }

  /** The retained announcement of the key requests are sealed to (on every connection to the broker). */
  private announceRequestKey(): void {
    const body: RequestKeyAnnouncement = {
      v: 1,
      type: 'request-key',
      gatewayId: this.opts.gatewayId,
      sealing: rawPublicKey(this.requestKey.publicKey),
      gatewayKey: rawPublicKey(this.identity.publicKey),
    };
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    this.link.publishRetained(topics.customerKey(this.opts.prefix, this.opts.gatewayId), message);
  }

  private remember(customer: EnrolledCustomer): void {
    this.sealingKeys.set(customer.meterId, {
      customer,
      key: publicKeyFromRaw(customer.keys.sealing, 'X25519'),
    });
    try {
      this.third.consents.load(customer);
    } catch (error) {
      // A log that does not check out grants nothing: no third party receives this household's data.
      this.metrics.inc(`customer.consent_log_invalid`);
      this.log.error(
        { meter: customer.meterId, code: errorCode(error), reason: (error as Error).message },
        "the household's consent log does not check out: no consent is applied",
      );
    }
  }
}

/** What a household (and its tool) sees of a consent. */
const publicView = (c: ConsentState): ActiveConsent => ({
  id: c.id,
  grantee: c.grantee,
  granteeFingerprint: c.granteeFingerprint,
  granularity: c.granularity,
  from: c.from,
  until: c.until,
  topic: c.topic,
});

const slotOf = (r: Reading) => ({ meterId: r.meterId, start: r.start, end: r.end });

/**
 * What a refusal says when it cannot be sealed back (the requester's key is unknown, so the broker reads it):
 * the reason, never the meter or anything the request named.
 */
const OPEN_REFUSALS: Partial<Record<string, string>> = {
  ENROLMENT_REFUSED: 'no household is enrolled for this meter with this key',
  SIGNATURE_INVALID: 'not signed by the key enrolled for this meter',
  REQUEST_REPLAYED: "this sequence number was used before: check the device's clock",
  REQUEST_REFUSED: "not for this gateway, or dated ahead of the gateway's clock",
  MESSAGE_MALFORMED: 'not a request this gateway understands',
  SEAL_INVALID: "not sealed to this gateway's request key",
};

/** A household's sealing key as a KeyObject, or undefined when it is not a usable one. */
function sealingKeyOrNone(raw: string): KeyObject | undefined {
  try {
    return publicKeyFromRaw(raw, 'X25519');
  } catch {
    return undefined;
  }
}
