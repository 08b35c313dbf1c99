/** Interval and billing-period boundaries. Intervals are aligned to the epoch; billing periods to local midnight. */
import { wallParts, zonedToEpoch } from './zoned.ts';

export type BillingPeriodKind = 'daily' | 'weekly' | 'monthly';

export interface Span {
  start: number;
  end: number;
}

export function intervalOf(epochMs: number, intervalMs: number): Span {
  const start = Math.floor(epochMs / intervalMs) * intervalMs;
  return { start, end: start + intervalMs };
}

/** The billing period containing `epochMs`: local days, ISO weeks starting Monday, or calendar months. */
export function billingPeriodOf(epochMs: number, kind: BillingPeriodKind, timeZone: string): Span {
  const p = wallParts(epochMs, timeZone);
  const midnight = (year: number, month: number, day: number) =>
    zonedToEpoch({ year, month, day, hour: 0, minute: 0 }, timeZone);
  if (kind === 'monthly') {
    const next = p.month === 12 ? [p.year + 1, 1] : [p.year, p.month + 1];
    return { start: midnight(p.year, p.month, 1), end: midnight(next[0]!, next[1]!, 1) };
  }
  // Date.UTC normalises day overflow, so calendar arithmetic on the wall date is safe.
  const dayOfWeek = (new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay() + 6) % 7; // Monday = 0
  const firstDay = kind === 'daily' ? p.day : p.day - dayOfWeek;
  const length = kind === 'daily' ? 1 : 7;
  const from = new Date(Date.UTC(p.year, p.month - 1, firstDay));
  const to = new Date(Date.UTC(p.year, p.month - 1, firstDay + length));
  return {
    start: midnight(from.getUTCFullYear(), from.getUTCMonth() + 1, from.getUTCDate()),
    end: midnight(to.getUTCFullYear(), to.getUTCMonth() + 1, to.getUTCDate()),
  };
}

/** The longest a billing period of this kind can be, in days (for sizing packed slots). */
export function maxPeriodDays(kind: BillingPeriodKind): number {
  return kind === 'daily' ? 1 : kind === 'weekly' ? 7 : 31;
}
