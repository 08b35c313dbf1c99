/**
 * Third parties' streams (docs/customers.md §Consent): each accepted reading of a household with consents in
 * force goes, masked (span-masks.ts) and sealed to each third party's key, on the consent's own topic; when a
 * span (hour or day) closes, the masks of its slots that had no reading follow, so the third party can add the
 * span up. Nothing is sent for a reading outside a consent's time, and with no consent nothing at all.
 * Messages wait in SQLite, sealed, until the broker acknowledges them (QoS 1): an outage delays them, a restart
 * loses none.
 */
import type { KeyObject } from 'node:crypto';
import type { Reading } from '../acquire/reading.ts';
import { errorCode } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { ConsentState } from '../protocol/consent-chain.ts';
import { sharedAad, sharedPlaintext, type SharedReading } from '../protocol/customer-messages.ts';
import { signEnvelope } from '../protocol/envelope.ts';
import type { Span } from '../time/periods.ts';
import { isoUtc } from '../time/zoned.ts';
import type { MessageLink } from '../uplink/uplink.ts';
import type { Consents } from './consents.ts';
import { publicKeyFromRaw } from './raw-keys.ts';
import { seal } from './seal.ts';
import type { OpenSpan, OutgoingMessage, SharedStore } from './shared-store.ts';
import { addMod, maskKey, maskOf, spanOf } from './span-masks.ts';

/** Messages handed to the broker at once; the rest follow as it acknowledges them. */
const IN_FLIGHT = 100;
/** Queued messages beyond which new ones are dropped (and counted) while the broker is away. */
const MAX_QUEUED = 200_000;

export interface SharedStreamOptions {
  intervalMs: number;
  timeZone: string;
  /** A span closes this long after its end (intervals.graceMinutes): later readings miss it. */
  graceMs: number;
}

export class SharedStream {
  private readonly inFlight = new Set<number>();
  private readonly keys = new Map<string, { grantee: KeyObject; mask: Buffer }>();

  constructor(
    private readonly opts: SharedStreamOptions,
    private readonly consents: Consents,
    private readonly store: SharedStore,
    private readonly link: MessageLink,
    private readonly identity: { privateKey: KeyObject; publicKey: KeyObject },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    link.onConnect(() => {
      this.inFlight.clear();
      this.flush();
    });
  }

  /**
   * Masks and seals a reading for every third party its household consented to for the reading's interval (a
   * consent covers the readings from its grant to its end, even one that arrives a little after that end, until
   * its span closes); returns what queues those messages, run once the reading is committed. `now` is the
   * gateway's data clock. Never throws.
   */
  prepare(reading: Reading, now: number): () => void {
    const consents = this.consents.active(reading.meterId, reading.start);
    if (consents.length === 0) return () => {};
    const ready: { consentId: string; span: Span; slot: number; out: OutgoingMessage }[] = [];
    for (const c of consents) {
      try {
        const slot = this.slotMessage(c, reading, now);
        if (slot) ready.push(slot);
      } catch (error) {
        this.failed(c.id, error);
      }
    }
    return () => {
      for (const r of ready) {
        try {
          if (this.store.queued >= MAX_QUEUED) this.metrics.inc('customer.shared_dropped');
          else if (!this.store.send(r.consentId, r.span, r.slot, r.out))
            this.metrics.inc('customer.shared_duplicate');
        } catch (error) {
          this.failed(r.consentId, error);
        }
      }
      this.flush();
    };
  }

  /** Prepares and queues at once (a reading already committed). */
  offer(reading: Reading, now: number): void {
    this.prepare(reading, now)();
  }

  /** Completes the spans that have closed by `now` (data clock) with the masks of their missing slots. */
  closeSpans(now: number): void {
    for (const span of this.store.openSpans(now - this.opts.graceMs)) {
      const c = this.consents.find(span.consentId);
      try {
        // A consent revoked since: its third party gets no more, not even the masks that would complete a span.
        this.store.closeSpan(span, c ? this.missing(c, span) : []);
        this.metrics.inc(c ? 'customer.shared_spans_closed' : 'customer.shared_spans_dropped');
      } catch (error) {
        this.metrics.inc(`customer.shared_failed.${errorCode(error)}`);
        this.log.warn({ consent: span.consentId, code: errorCode(error) }, 'span not closed');
        return;
      }
    }
    this.flush();
  }

  /** Hands queued messages to the broker while it is connected; each is deleted once acknowledged. */
  flush(): void {
    if (this.inFlight.size >= IN_FLIGHT) return;
    for (const m of this.store.pending(IN_FLIGHT + this.inFlight.size)) {
      if (this.inFlight.has(m.id)) continue;
      if (this.inFlight.size >= IN_FLIGHT) break;
      const sent = this.link.publish(m.topic, m.message, 1, (error) => {
        this.inFlight.delete(m.id);
        if (error) return void this.metrics.inc('customer.shared_publish_failed');
        this.store.remove(m.id);
        this.metrics.inc('customer.shared_sent');
        this.flush();
      });
      if (!sent) return;
      this.inFlight.add(m.id);
    }
  }

  private slotMessage(c: ConsentState, reading: Reading, now: number) {
    if (reading.start < c.fromMs || reading.end > c.untilMs) return undefined;
    const span = spanOf(c.granularity, reading.start, this.opts.intervalMs, this.opts.timeZone);
    // A span closes grace after its end, and its missing slots' masks go out then: a reading later than that
    // would be counted twice.
    if (span.end + this.opts.graceMs <= now) {
      this.metrics.inc('customer.shared_late');
      return undefined;
    }
    const { slot, of } = this.slotOf(span, reading.start);
    const m = addMod(reading.wh, maskOf(this.keysOf(c).mask, span.start, slot, of));
    return { consentId: c.id, span, slot, out: this.message(c, span, slot, of, m, false) };
  }

  private failed(consentId: string, error: unknown): void {
    this.metrics.inc(`customer.shared_failed.${errorCode(error)}`);
    this.log.warn({ consent: consentId, code: errorCode(error) }, 'reading not sent to a third party');
  }

  private missing(c: ConsentState, span: OpenSpan): OutgoingMessage[] {
    const sent = new Set(span.slots);
    const { of } = this.slotOf(span, span.start);
    const out: OutgoingMessage[] = [];
    for (let slot = 0; slot < of; slot++) {
      if (sent.has(slot)) continue;
      out.push(this.message(c, span, slot, of, maskOf(this.keysOf(c).mask, span.start, slot, of), true));
    }
    return out;
  }

  private message(c: ConsentState, span: Span, slot: number, of: number, m: number, missing: boolean) {
    const start = isoUtc(span.start);
    const end = isoUtc(span.end);
    const body: SharedReading = {
      v: 1,
      type: 'shared',
      granularity: c.granularity,
      start,
      end,
      slot,
      of,
      sealed: seal(
        this.keysOf(c).grantee,
        sharedPlaintext(m, missing),
        sharedAad(c.stream, c.granularity, start, end, slot),
      ),
    };
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    return { topic: c.topic, message };
  }

  private slotOf(span: Span, start: number): { slot: number; of: number } {
    return {
      slot: Math.floor((start - span.start) / this.opts.intervalMs),
      of: Math.round((span.end - span.start) / this.opts.intervalMs),
    };
  }

  private keysOf(c: ConsentState): { grantee: KeyObject; mask: Buffer } {
    let k = this.keys.get(c.id);
    if (!k) {
      k = {
        grantee: publicKeyFromRaw(c.granteeKey, 'X25519'),
        mask: maskKey(this.identity.privateKey, c.id),
      };
      this.keys.set(c.id, k);
    }
    return k;
  }
}
