/**
 * A third party's stream, with the real SQLite buffer, consents, masks and seals; only the broker is a fake
 * (it records what is published and acknowledges it). Readings are the real household data. The third party
 * (opening with its own key, adding spans up with the tool's own code) gets exactly the hourly or daily sums of
 * the readings the consent covers, nothing finer, nothing outside the consent, nothing after a revoke, and
 * nothing at all without a consent; another key opens nothing.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../../gateway/acquire/reading.ts';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { ConsentLog } from '../../../gateway/customer/consent-log.ts';
import { Consents } from '../../../gateway/customer/consents.ts';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import type { EnrolledCustomer } from '../../../gateway/customer/customer-store.ts';
import { parseRequest } from '../../../gateway/customer/enrolment.ts';
import { SharedStore } from '../../../gateway/customer/shared-store.ts';
import { SharedStream } from '../../../gateway/customer/shared-stream.ts';
import { addMod, MASK_MODULUS, maskOf, newSeed, spanOf } from '../../../gateway/customer/span-masks.ts';
import { rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { errorCode } from '../../../gateway/errors.ts';
import { createLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import type { Granularity } from '../../../gateway/protocol/customer-messages.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';
import type { MessageLink } from '../../../gateway/uplink/uplink.ts';
import {
  consentGrantRequest,
  consentRevokeRequest,
  openShared,
} from '../../../scripts/lib/customer/client.ts';
import { SpanAdder, type SpanSum } from '../../../scripts/lib/customer/span-adder.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { readFixture } from '../../helpers/consumption.ts';

const GW = 'gw-1';
const HALF_HOUR = 1_800_000;
const DAY = 86_400_000;
/** Requests' sequence numbers, increasing as the tool's are. */
let seq = Date.parse('2026-01-01T00:00:00Z');
const nextSeq = () => ++seq;

/** A broker that takes every message while "connected" and acknowledges it at once. */
class RecordingLink implements MessageLink {
  connected = true;
  readonly sent: { topic: string; payload: string }[] = [];
  private readonly listeners: (() => void)[] = [];
  route(): void {}
  publish(topic: string, payload: string, _qos: 0 | 1, done?: (error?: Error) => void): boolean {
    if (!this.connected) return false;
    this.sent.push({ topic, payload });
    queueMicrotask(() => done?.());
    return true;
  }
  onConnect(listener: () => void): void {
    this.listeners.push(listener);
  }
  publishRetained(): boolean {
    return true;
  }
  /** The process that listened stops (a restart). */
  forget(): void {
    this.listeners.length = 0;
  }
  reconnect(): void {
    this.connected = true;
    for (const l of this.listeners) l();
  }
}

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

/** The real household's half-hourly readings of one day, as the gateway's intake hands them on. */
const rows = readFixture();
const HOUSEHOLD = rows[0]!.household;

function realDay(day: string): Reading[] {
  const from = Date.parse(`${day}T00:00:00Z`);
  const readings = rows
    .filter((r) => r.household === HOUSEHOLD && r.end > from && r.end <= from + DAY)
    .map((r) => ({ meterId: 'm1', start: r.end - HALF_HOUR, end: r.end, wh: r.wh }));
  if (readings.length !== 48) throw new Error(`the fixture has ${readings.length} readings on ${day}`);
  return readings;
}

function setup(file?: string) {
  const buffer = openTestBuffer(97n * 97n, new Metrics(), file ? { file } : {});
  buffers.push(buffer);
  const identity = generateKeyPairSync('ed25519');
  const household = generateCustomerKeys();
  const customer: EnrolledCustomer = {
    meterId: 'm1',
    keys: household.publicKeys,
    pseudonym: 'p'.repeat(32),
    codeKey: 'ck',
    enrolledAt: 0,
  };
  const consents = new Consents(
    { gatewayId: GW, prefix: 'ms/v1', intervalMinutes: 30 },
    new ConsentLog(buffer.db),
  );
  consents.load(customer);
  const link = new RecordingLink();
  const metrics = new Metrics();
  const stream = () =>
    new SharedStream(
      { intervalMs: HALF_HOUR, timeZone: 'UTC', graceMs: 5 * 60_000, maxReadingAgeMs: 7 * DAY },
      consents,
      new SharedStore(buffer.db),
      link,
      identity,
      metrics,
      createLogger({ level: 'silent' }),
    );
  return {
    buffer,
    identity,
    household,
    customer,
    consents,
    link,
    metrics,
    stream: stream(),
    stream2: stream,
  };
}

type Setup = ReturnType<typeof setup>;

function grant(s: Setup, granularity: Granularity, from: number, until: number) {
  const third = generateKeyPairSync('x25519');
  const { message } = consentGrantRequest({
    gatewayId: GW,
    meterId: 'm1',
    keys: s.household,
    grantee: { name: 'Coach', sealing: rawPublicKey(third.publicKey) },
    granularity,
    until,
    now: nextSeq(),
  });
  const signed = parseRequest(Buffer.from(message));
  if (signed.request.type !== 'consent-grant') throw new Error('not a grant');
  const consent = s.consents.grant(signed, signed.request, s.customer, from);
  return { consent, third };
}

/** The household revokes a consent (as the service does once the request is authorised). */
function revoke(s: Setup, consentId: string, now: number): void {
  const { message } = consentRevokeRequest({
    gatewayId: GW,
    meterId: 'm1',
    keys: s.household,
    consentId,
    now: nextSeq(),
  });
  const signed = parseRequest(Buffer.from(message));
  if (signed.request.type !== 'consent-revoke') throw new Error('not a revoke');
  s.consents.revoke(signed, signed.request, s.customer, now);
}

/** What the third party makes of everything published on its topic (with the key given). */
function received(s: Setup, topic: string, key: KeyObject): { sums: SpanSum[]; refused: string[] } {
  const stream = /\/c\/([0-9a-f]{32})\/shared$/.exec(topic)![1]!;
  const adder = new SpanAdder();
  const sums: SpanSum[] = [];
  const refused: string[] = [];
  for (const m of s.link.sent.filter((x) => x.topic === topic)) {
    try {
      const sum = adder.add(openShared(Buffer.from(m.payload), s.identity.publicKey, key, stream));
      if (sum) sums.push(sum);
    } catch (error) {
      refused.push(errorCode(error));
    }
  }
  return { sums, refused };
}

/** Feeds readings as the gateway does (data clock at each reading's end), closing spans on the way. */
async function feed(s: Setup, readings: readonly Reading[], stream = s.stream): Promise<void> {
  for (const r of readings) {
    stream.offer(r, r.end);
    stream.closeSpans(r.end);
  }
  stream.closeSpans(readings.at(-1)!.end + DAY);
  await new Promise((resolve) => setImmediate(resolve));
}

/** The expected sums: each span's readings added up. */
function expectedSums(readings: readonly Reading[], granularity: Granularity) {
  const spans = new Map<number, { end: number; wh: number; n: number }>();
  for (const r of readings) {
    const span = spanOf(granularity, r.start, HALF_HOUR, 'UTC');
    const e = spans.get(span.start) ?? { end: span.end, wh: 0, n: 0 };
    e.wh += r.wh;
    e.n++;
    spans.set(span.start, e);
  }
  return [...spans].map(([start, e]) => ({
    granularity,
    start: isoUtc(start),
    end: isoUtc(e.end),
    wh: e.wh,
    minutes: e.n * 30,
  }));
}

describe('masks', () => {
  it('cancel over a whole span and over nothing less; each span has its own seed', () => {
    const seed = newSeed();
    const n = 48;
    const masks = Array.from({ length: n }, (_, i) => maskOf(seed, i, n));
    expect(masks.reduce(addMod, 0)).toBe(0);
    for (let k = 1; k < n; k++) expect(masks.slice(0, k).reduce(addMod, 0)).not.toBe(0);
    expect(masks.every((m) => m >= 0 && m < MASK_MODULUS)).toBe(true);
    expect(maskOf(newSeed(), 3, n)).not.toBe(masks[3]);
    expect(maskOf(seed, 0, 1)).toBe(0);
  });

  it('spans are local hours (also half an hour off UTC) and local days (23 or 25 hours at DST changes)', () => {
    const t = Date.parse('2026-11-24T10:45:00Z');
    expect(spanOf('hourly', t, HALF_HOUR, 'Asia/Kolkata')).toEqual({
      start: Date.parse('2026-11-24T10:30:00Z'),
      end: Date.parse('2026-11-24T11:30:00Z'),
    });
    const spring = spanOf('daily', Date.parse('2026-03-29T12:00:00Z'), HALF_HOUR, 'Europe/Amsterdam');
    expect((spring.end - spring.start) / 3_600_000).toBe(23);
    // The repeated hour of the autumn change is its own hour, not folded into the first one.
    const first = spanOf('hourly', Date.parse('2026-10-25T00:15:00Z'), HALF_HOUR, 'Europe/Amsterdam');
    const second = spanOf('hourly', Date.parse('2026-10-25T01:15:00Z'), HALF_HOUR, 'Europe/Amsterdam');
    expect(second.start).toBe(first.end);
  });
});

describe('a third party granted access', () => {
  it('hourly: receives exactly the hourly sums of the real readings, and no slot alone tells a reading', async () => {
    const s = setup();
    const day = realDay('2012-10-09');
    const { consent, third } = grant(s, 'hourly', day[0]!.start, day[0]!.start + 30 * DAY);
    await feed(s, day);
    const { sums, refused } = received(s, consent.topic, third.privateKey);
    expect(refused).toEqual([]);
    expect(sums).toEqual(expectedSums(day, 'hourly'));
    // Each slot's value is masked: the values opened one by one are not the readings.
    const opened = s.link.sent.map((m) =>
      openShared(Buffer.from(m.payload), s.identity.publicKey, third.privateKey, consent.stream),
    );
    const equal = opened.filter((o, i) => o.m === day[i]!.wh).length;
    expect(equal).toBeLessThan(2);
  });

  it('daily: one sum per day; a missing reading leaves a sum of the rest, with fewer minutes', async () => {
    const s = setup();
    const day = realDay('2012-10-10');
    const { consent, third } = grant(s, 'daily', day[0]!.start, day[0]!.start + 30 * DAY);
    const withGap = day.filter((_, i) => i !== 7 && i !== 30);
    await feed(s, withGap);
    const { sums } = received(s, consent.topic, third.privateKey);
    expect(sums).toEqual(expectedSums(withGap, 'daily'));
    expect(sums[0]!.minutes).toBe(23 * 60);
  });

  it('gets nothing outside the consent, nothing after a revoke, and another key opens nothing', async () => {
    const s = setup();
    const day = realDay('2012-10-11');
    const from = day[8]!.start; // 04:00
    const { consent, third } = grant(s, 'hourly', from, day[20]!.start); // until 10:00
    await feed(s, day.slice(0, 16));
    revoke(s, consent.id, day[16]!.start);
    await feed(s, day.slice(16));
    // 04:00 to 08:00 only: not before the grant, not after the revoke (08:00), though the consent ran to 10:00.
    expect(received(s, consent.topic, third.privateKey).sums).toEqual(
      expectedSums(day.slice(8, 16), 'hourly'),
    );
    const stranger = generateKeyPairSync('x25519').privateKey;
    const theirs = received(s, consent.topic, stranger);
    expect(theirs.sums).toEqual([]);
    expect(new Set(theirs.refused)).toEqual(new Set(['SEAL_INVALID']));
  });

  it('without a consent nothing is published; with an expired one nothing more', async () => {
    const s = setup();
    const day = realDay('2012-10-12');
    await feed(s, day.slice(0, 10));
    expect(s.link.sent).toEqual([]);
    const { consent, third } = grant(s, 'hourly', day[10]!.start, day[14]!.start);
    await feed(s, day.slice(10));
    expect(received(s, consent.topic, third.privateKey).sums).toEqual(
      expectedSums(day.slice(10, 14), 'hourly'),
    );
  });

  it('keeps messages while the broker is away and across a restart, and sends each slot once', async () => {
    const file = (await import('../../helpers/buffer.ts')).tempBufferFile('shared-');
    const s = setup(file);
    const day = realDay('2012-10-09');
    const { consent, third } = grant(s, 'hourly', day[0]!.start, day[0]!.start + 30 * DAY);
    s.link.connected = false;
    for (const r of day.slice(0, 24)) s.stream.offer(r, r.end);
    s.stream.offer(day[3]!, day[3]!.end); // delivered twice
    expect(s.link.sent).toEqual([]);
    expect(s.metrics.snapshot()['customer.shared_duplicate']).toBe(1);
    // A restart: a new stream on the same file sends what was queued and closes the spans opened before it.
    s.link.forget();
    const restarted = s.stream2();
    s.link.reconnect();
    await feed(s, day.slice(24), restarted);
    expect(received(s, consent.topic, third.privateKey).sums).toEqual(expectedSums(day, 'hourly'));
    expect(new SharedStore(s.buffer.db).queued).toBe(0);
  });

  it('never serves a span cut by the grant or the end (it would give single readings away)', async () => {
    const s = setup();
    const day = realDay('2012-10-10');
    // Daily, granted at 23:10: that day is not whole inside the consent, so nothing of it goes out.
    const late = grant(s, 'daily', day[46]!.start + 10 * 60_000, day[0]!.start + 10 * DAY);
    // Hourly, ending at 03:40: the hour 03:00-04:00 is cut, so only 00:00-03:00 goes out.
    const cut = grant(s, 'hourly', day[0]!.start, day[7]!.start + 10 * 60_000);
    await feed(s, day);
    expect(received(s, late.consent.topic, late.third.privateKey).sums).toEqual([]);
    expect(received(s, cut.consent.topic, cut.third.privateKey).sums).toEqual(
      expectedSums(day.slice(0, 6), 'hourly'),
    );
    expect(s.metrics.get('customer.shared_outside')).toBeGreaterThan(0);
  });

  it('never reopens a closed span, even when the clock steps back, and forgets its seed', async () => {
    const s = setup();
    const day = realDay('2012-10-11');
    const { consent, third } = grant(s, 'hourly', day[0]!.start, day[0]!.start + 10 * DAY);
    // 00:00-01:00 gets only its first reading, then closes: the second slot's mask goes out as missing.
    s.stream.offer(day[0]!, day[0]!.end);
    s.stream.closeSpans(day[2]!.end);
    await new Promise((resolve) => setImmediate(resolve));
    const before = s.link.sent.length;
    const seeds = () =>
      s.buffer.db.prepare('SELECT seed FROM shared_spans WHERE consent_id = ?').all(consent.id) as {
        seed: Buffer | null;
      }[];
    expect(seeds()).toEqual([{ seed: null }]);
    // The clock steps back (NTP) and the missing reading arrives: it must not go out (its mask is known).
    s.stream.offer(day[1]!, day[1]!.end);
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.link.sent.length).toBe(before);
    expect(s.metrics.get('customer.shared_closed')).toBe(1);
    const { sums } = received(s, consent.topic, third.privateKey);
    expect(sums).toEqual([{ ...expectedSums(day.slice(0, 1), 'hourly')[0]!, end: isoUtc(day[1]!.end) }]);
  });

  it('takes a reading past its span grace while the span is still open (a stall or a forward jump)', async () => {
    const s = setup();
    const day = realDay('2012-10-11');
    const { consent, third } = grant(s, 'hourly', day[0]!.start, day[0]!.start + 10 * DAY);
    s.stream.offer(day[0]!, day[0]!.end);
    s.stream.closeSpans(day[0]!.end);
    // The gateway stalls for 4 hours of data time (a starved process, a clock stepped forward): when it runs
    // again the readings come before the tick that closes their spans, as they join their groups and bills.
    const now = day[3]!.end + 4 * 3_600_000;
    for (const r of day.slice(1, 4)) s.stream.offer(r, now);
    s.stream.closeSpans(now);
    await new Promise((resolve) => setImmediate(resolve));
    expect(received(s, consent.topic, third.privateKey).sums).toEqual(
      expectedSums(day.slice(0, 4), 'hourly'),
    );
    expect(s.link.sent.length).toBe(4);
    // Once closed, a span takes nothing more: a reading after that is counted, and its mask went out instead.
    s.stream.offer(day[4]!, day[4]!.end);
    s.stream.closeSpans(day[5]!.end + 3_600_000);
    s.stream.offer(day[5]!, day[5]!.end + 3_600_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.metrics.get('customer.shared_closed')).toBe(1);
    expect(received(s, consent.topic, third.privateKey).sums.at(-1)).toEqual({
      ...expectedSums(day.slice(4, 5), 'hourly')[0]!,
      end: isoUtc(day[5]!.end),
    });
  });

  it('closes a span on the tick after the one that found it due: the drivers have a turn in between', async () => {
    const s = setup();
    const day = realDay('2012-10-11');
    const { consent, third } = grant(s, 'hourly', day[0]!.start, day[0]!.start + 10 * DAY);
    s.stream.tick(day[0]!.end);
    s.stream.offer(day[0]!, day[0]!.end);
    s.stream.tick(day[0]!.end + 1000);
    // The gateway stalls for 4 hours of data time and the tick comes first: the second reading, due long
    // before, is handed over only after it. The span waits for the next tick.
    const now = day[1]!.end + 4 * 3_600_000;
    s.stream.tick(now);
    s.stream.offer(day[1]!, now);
    s.stream.tick(now + 1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(received(s, consent.topic, third.privateKey).sums).toEqual(
      expectedSums(day.slice(0, 2), 'hourly'),
    );
    expect(s.metrics.get('customer.shared_closed')).toBe(0);
  });

  it('withdraws what waits for a third party when the household revokes, and what comes after the revoke', async () => {
    const s = setup();
    const day = realDay('2012-10-12');
    const { consent, third } = grant(s, 'interval', day[0]!.start, day[0]!.start + 10 * DAY);
    s.link.connected = false;
    for (const r of day.slice(0, 6)) s.stream.offer(r, r.end);
    // One reading encrypted before the revoke, committed after it.
    const late = s.stream.prepare(day[6]!, day[6]!.end);
    expect(new SharedStore(s.buffer.db).queued).toBe(6);
    revoke(s, consent.id, day[6]!.end);
    s.stream.withdraw(consent.id);
    late();
    expect(new SharedStore(s.buffer.db).queued).toBe(0);
    s.link.reconnect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(received(s, consent.topic, third.privateKey).sums).toEqual([]);
    expect(s.metrics.get('customer.shared_withdrawn')).toBe(6);
    expect(s.metrics.get('customer.shared_revoked')).toBe(1);
  });
});
