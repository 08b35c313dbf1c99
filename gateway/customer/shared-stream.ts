/**
 * Third parties' streams (docs/customers.md §Consent): each accepted reading of a household with consents in
 * force goes, masked (span-masks.ts) and sealed to each third party's key, on the consent's own topic; when a
 * span (hour or day) closes, the masks of its slots that had no reading follow, so the third party can add the
 * span up. Only whole spans inside a consent's time are served (a span cut by the grant or the end would give
 * away the readings outside it), a closed span never gets another slot (its masks are out), and with no consent
 * nothing is sent at all. Messages wait in SQLite, sealed, until the broker acknowledges them (QoS 1): an outage
 * delays them, a restart loses none; a revoke withdraws those not yet sent.
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
import { addMod, maskOf, spanOf } from './span-masks.ts';

/** Messages handed to the broker at once; the rest follow as it acknowledges them. */
const IN_FLIGHT = 100;
/** Queued messages beyond which new ones are dropped (and counted) while the broker is away. */
const MAX_QUEUED = 200_000;
const DAY_MS = 86_400_000;

export interface SharedStreamOptions {
  intervalMs: number;
  timeZone: string;
  /** A span closes on the first tick this long after its end (intervals.graceMinutes): later readings miss it. */
  graceMs: number;
  /** No reading older than this is accepted (buffer.maxReadingAgeDays): closed marks are kept that long. */
  maxReadingAgeMs: number;
}

interface ReadySlot {
  consentId: string;
  span: Span;
  slot: number;
  out: OutgoingMessage;
}

export class SharedStream {
  private readonly inFlight = new Set<number>();
  private readonly granteeKeys = new Map<string, KeyObject>();
  /** The data clock at the previous tick. */
  private previousTick: number | undefined;

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
   * Masks and seals a reading for every third party its household consented to for the reading's span; returns
   * what queues those messages, run once the reading is committed. `now` is the gateway's data clock. Never
   * throws.
   */
  prepare(reading: Reading, now: number): () => void {
    const consents = this.consents.active(reading.meterId, reading.start);
    if (consents.length === 0) return () => {};
    const ready: ReadySlot[] = [];
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
          this.queue(r);
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

  /**
   * On the gateway's tick (data clock): closes the spans that were due at the previous tick. A tick that comes
   * first after the gateway stalled (a starved process, a long commit) finds spans due whose readings the
   * drivers have not handed over yet, though they were due before it; the drivers' timers run before the next
   * tick, so a span closes only once they had a turn.
   */
  tick(now: number, prune = true): void {
    const due = this.previousTick;
    this.previousTick = now;
    if (due === undefined) return this.flush();
    this.closeSpans(due, prune);
  }

  /**
   * Completes the spans that have closed by `now` (data clock) with the masks of their missing slots; then deletes
   * the closed spans' old marks unless `prune` is false (a corrupt buffer).
   */
  closeSpans(now: number, prune = true): void {
    for (const span of this.store.dueSpans(now - this.opts.graceMs)) {
      const c = this.consents.find(span.consentId);
      try {
        // A consent revoked since gets no more, not even the masks that would complete a span; a span opened
        // for a reading that never came needs none.
        const complete = c !== undefined && span.slots.length > 0;
        this.store.closeSpan(span, complete ? this.missing(c, span) : []);
        this.metrics.inc(complete ? 'customer.shared_spans_closed' : 'customer.shared_spans_dropped');
      } catch (error) {
        this.failed(span.consentId, error);
      }
    }
    if (prune) this.store.prune(now - this.opts.maxReadingAgeMs - DAY_MS);
    this.flush();
  }

  /** A consent revoked or ended: what was not sent yet is withdrawn. */
  withdraw(consentId: string): void {
    const withdrawn = this.store.withdraw(consentId);
    this.granteeKeys.delete(consentId);
    if (withdrawn > 0) this.metrics.inc('customer.shared_withdrawn', withdrawn);
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

  private queue(r: ReadySlot): void {
    // Revoked between the reading's encryption and its commit: nothing goes out.
    if (!this.consents.find(r.consentId)) return void this.metrics.inc('customer.shared_revoked');
    if (this.store.queued >= MAX_QUEUED) return void this.metrics.inc('customer.shared_dropped');
    const outcome = this.store.send(r.span, r.slot, r.out);
    if (outcome !== 'sent') this.metrics.inc(`customer.shared_${outcome}`);
  }

  private slotMessage(c: ConsentState, reading: Reading, now: number): ReadySlot | undefined {
    const span = spanOf(c.granularity, reading.start, this.opts.intervalMs, this.opts.timeZone);
    // Whole spans only: the first and last, cut by the consent's start or end, would give single readings away.
    if (
      span.start < c.fromMs ||
      span.end > c.untilMs ||
      (span.end - span.start) % this.opts.intervalMs !== 0
    ) {
      return void this.metrics.inc('customer.shared_outside');
    }
    // Older than the closed spans' marks are kept (prune): it could reopen a closed span with a new seed. The
    // intake refuses such a reading anyway (buffer.maxReadingAgeDays).
    if (span.end < now - this.opts.maxReadingAgeMs) return void this.metrics.inc('customer.shared_late');
    // A span takes readings until the tick closes it (grace after its end, when its missing slots' masks go
    // out), as a group or a bill does: not by the clock alone, or a reading that comes after a stall or a
    // forward jump of the clock, before that tick, would miss a span that is still open.
    const seed = this.store.seedOf(c.id, span);
    if (!seed) return void this.metrics.inc('customer.shared_closed');
    const { slot, of } = this.slotOf(span, reading.start);
    const m = addMod(reading.wh, maskOf(seed, slot, of));
    return { consentId: c.id, span, slot, out: this.message(c, span, slot, of, m, false) };
  }

  private failed(consentId: string, error: unknown): void {
    this.metrics.inc(`customer.shared_failed.${errorCode(error)}`);
    this.log.warn({ consent: consentId, code: errorCode(error) }, 'third-party stream: not sent');
  }

  private missing(c: ConsentState, span: OpenSpan): OutgoingMessage[] {
    const sent = new Set(span.slots);
    const { of } = this.slotOf(span, span.start);
    const out: OutgoingMessage[] = [];
    for (let slot = 0; slot < of; slot++) {
      if (!sent.has(slot)) out.push(this.message(c, span, slot, of, maskOf(span.seed, slot, of), true));
    }
    return out;
  }

  private message(
    c: ConsentState,
    span: Span,
    slot: number,
    of: number,
    m: number,
    missing: boolean,
  ): OutgoingMessage {
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
        this.granteeKey(c),
        sharedPlaintext(m, missing),
        sharedAad(c.stream, c.granularity, start, end, slot),
      ),
    };
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    return { consentId: c.id, topic: c.topic, message };
  }

  private slotOf(span: Span, start: number): { slot: number; of: number } {
    return {
      slot: Math.floor((start - span.start) / this.opts.intervalMs),
      of: Math.round((span.end - span.start) / this.opts.intervalMs),
    };
  }

  private granteeKey(c: ConsentState): KeyObject {
    let k = this.granteeKeys.get(c.id);
    if (!k) this.granteeKeys.set(c.id, (k = publicKeyFromRaw(c.granteeKey, 'X25519')));
    return k;
  }
}
