/**
 * The households' side of the gateway: answers their signed requests (enrolment for now) and streams each
 * reading of an enrolled meter, sealed to the household's key, on a topic named by its pseudonym. The plaintext
 * reading is sealed the moment it is accepted and never kept (invariant 1); the live stream is best effort
 * (QoS 0, nothing queued while the broker is away: the household's history is the durable copy).
 */
import type { KeyObject } from 'node:crypto';
import type { Reading } from '../acquire/reading.ts';
import { errorCode } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { signEnvelope } from '../protocol/envelope.ts';
import { liveAad, type CustomerReply, type LiveReading } from '../protocol/customer-messages.ts';
import { topics } from '../protocol/topics.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';
import type { MessageLink } from '../uplink/uplink.ts';
import { customerFingerprint } from './customer-key.ts';
import type { CustomerStore, EnrolledCustomer } from './customer-store.ts';
import { applyEnrolment, parseRequest } from './enrolment.ts';
import type { EnrolmentCodes } from './enrolment-codes.ts';
import { publicKeyFromRaw, rawPublicKey } from './raw-keys.ts';
import { seal } from './seal.ts';

export interface CustomerServiceOptions {
  gatewayId: string;
  prefix: string;
  meters: readonly string[];
  /** The enrolment-code hashes as they are now (re-read at each request: codes can be added while running). */
  codes: () => EnrolmentCodes | undefined;
}

export class CustomerService {
  private readonly sealingKeys = new Map<string, { customer: EnrolledCustomer; key: KeyObject }>();
  private readonly meters: ReadonlySet<string>;

  constructor(
    private readonly opts: CustomerServiceOptions,
    private readonly store: CustomerStore,
    private readonly link: MessageLink,
    private readonly identity: { privateKey: KeyObject; publicKey: KeyObject },
    private readonly wall: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.meters = new Set(opts.meters);
    for (const c of store.all()) this.remember(c);
  }

  start(): void {
    this.link.route(topics.customerRequest(this.opts.prefix, this.opts.gatewayId), (payload) =>
      this.onRequest(payload),
    );
  }

  /** Seals an accepted reading to its household, if one is enrolled, and publishes it. Never throws. */
  readonly live = (reading: Reading): void => {
    const entry = this.sealingKeys.get(reading.meterId);
    if (!entry) return;
    try {
      const start = isoUtc(reading.start);
      const end = isoUtc(reading.end);
      const pseudonym = entry.customer.pseudonym;
      const body: LiveReading = {
        v: 1,
        type: 'live',
        start,
        end,
        sealed: seal(
          entry.key,
          Buffer.from(JSON.stringify({ wh: reading.wh })),
          liveAad(pseudonym, start, end),
        ),
      };
      const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
      const sent = this.link.publish(topics.customerLive(this.opts.prefix, pseudonym), message, 0);
      this.metrics.inc(sent ? 'customer.live_sent' : 'customer.live_offline');
    } catch (error) {
      this.metrics.inc(`customer.live_failed.${errorCode(error)}`);
      this.log.warn({ meter: reading.meterId, code: errorCode(error) }, 'live reading not sent');
    }
  };

  private onRequest(payload: Buffer): void {
    let id: string | undefined;
    try {
      const signed = parseRequest(payload);
      id = signed.request.id;
      const customer = applyEnrolment(
        { ...signed, request: signed.request },
        {
          gatewayId: this.opts.gatewayId,
          meters: this.meters,
          codes: this.opts.codes(),
          store: this.store,
          now: this.wall.now(),
        },
      );
      this.remember(customer);
      const fingerprint = customerFingerprint(customer.keys);
      this.metrics.inc('customer.enrolled');
      this.log.info(
        { meter: customer.meterId, fingerprint, authority: signed.request.authority },
        'household key enrolled',
      );
      this.reply(id, { ok: true, fingerprint, pseudonym: customer.pseudonym });
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`customer.rejected.${code}`);
      this.log.warn({ code, reason: (error as Error).message }, 'household request refused');
      if (id) this.reply(id, { ok: false, code, message: (error as Error).message.slice(0, 500) });
    }
  }

  /** Every reply names the gateway's key, so that a household's tool can check it on first contact. */
  private reply(id: string, fields: Omit<CustomerReply, 'v' | 'type' | 'id' | 'gatewayKey'>): void {
    const gatewayKey = rawPublicKey(this.identity.publicKey);
    const body: CustomerReply = { v: 1, type: 'reply', id, ...fields, gatewayKey };
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    this.link.publish(topics.customerReply(this.opts.prefix, this.opts.gatewayId, id), message, 1);
  }

  private remember(customer: EnrolledCustomer): void {
    this.sealingKeys.set(customer.meterId, {
      customer,
      key: publicKeyFromRaw(customer.keys.sealing, 'X25519'),
    });
  }
}
