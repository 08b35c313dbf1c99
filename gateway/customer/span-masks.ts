/**
 * How a third party granted hourly or daily data receives it without the gateway ever keeping a running
 * plaintext total (DESIGN.md invariant 1): each interval's reading is sent at once, sealed to the third party,
 * but masked, `m = (Wh + r) mod 2^48`, with masks that cancel over the span (hour or day) the consent allows.
 * With F(0) = F(n) = 0 and F(j) = HMAC-SHA256(span seed, j) for 0 < j < n, slot i's mask is r_i = F(i) − F(i+1), so the
 * masks of all n slots sum to 0 and any fewer of them to something uniformly random: the third party learns the
 * span's sum and nothing finer. For a slot with no reading the gateway sends the mask alone when the span
 * closes. Each span has its own random seed, kept (in SQLite) only while the span is open: whoever steals the
 * gateway later, together with a third party's recorded stream, learns nothing finer of the closed spans. For
 * the `interval` granularity a span is one slot and its mask is 0.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Granularity } from '../protocol/customer-messages.ts';
import type { Span } from '../time/periods.ts';
import { billingPeriodOf, intervalOf } from '../time/periods.ts';
import { wallParts } from '../time/zoned.ts';

export const MASK_MODULUS = 2 ** 48;
const HOUR_MS = 3_600_000;

/** A new span's mask seed. */
export const newSeed = (): Buffer => randomBytes(32);

/** F(j): 0 at both ends of the span, pseudo-random in between. */
function boundary(seed: Buffer, j: number, n: number): number {
  if (j === 0 || j === n) return 0;
  return createHmac('sha256', seed).update(`meterspace/v1 mask ${j}`).digest().readUIntBE(0, 6);
}

/** Slot i's mask in a span of n slots, in [0, 2^48). */
export function maskOf(seed: Buffer, slot: number, n: number): number {
  const r = boundary(seed, slot, n) - boundary(seed, slot + 1, n);
  return r < 0 ? r + MASK_MODULUS : r;
}

export const addMod = (a: number, b: number): number => (a + b) % MASK_MODULUS;

/**
 * The span a reading starting at `start` belongs to: its interval, its local hour (hours start on the local
 * hour even in zones offset by half an hour, and partition time across daylight-saving changes), or its local day.
 */
export function spanOf(granularity: Granularity, start: number, intervalMs: number, timeZone: string): Span {
  if (granularity === 'interval') return intervalOf(start, intervalMs);
  if (granularity === 'daily') return billingPeriodOf(start, 'daily', timeZone);
  const p = wallParts(start, timeZone);
  const hourStart = start - (p.minute * 60_000 + p.second * 1000 + (((start % 1000) + 1000) % 1000));
  return { start: hourStart, end: hourStart + HOUR_MS };
}
