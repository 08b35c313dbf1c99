/**
 * Wall-clock arithmetic in an IANA time zone with nothing but `Intl`: tariff bands and billing periods are defined
 * in local time, while everything stored and sent is epoch milliseconds (UTC).
 */
export interface WallParts {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `Intl` knows the zone (used by the config schema). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function wallParts(epochMs: number, timeZone: string): WallParts {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(epochMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 0,
    month: parts.month ?? 0,
    day: parts.day ?? 0,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

/** Minutes since local midnight. */
export function minuteOfDay(epochMs: number, timeZone: string): number {
  const p = wallParts(epochMs, timeZone);
  return p.hour * 60 + p.minute;
}

/**
 * The epoch milliseconds of a local wall-clock time. In a DST gap the result is shifted forward by the gap; in a
 * DST overlap the earlier instant is returned.
 */
export function zonedToEpoch(w: Omit<WallParts, 'second'> & { second?: number }, timeZone: string): number {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second ?? 0);
  let guess = asUtc;
  // Two rounds settle the offset, a third handles a DST transition between guess and answer.
  for (let i = 0; i < 3; i++) {
    const p = wallParts(guess, timeZone);
    const seen = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const next = guess + (asUtc - seen);
    if (next === guess) break;
    guess = next;
  }
  return guess;
}

const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;

/** Parses `YYYY-MM-DD HH:MM[:SS]` (no zone) as local time in `timeZone`; undefined when malformed. */
export function parseWallClock(text: string, timeZone: string): number | undefined {
  const m = WALL_CLOCK.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
  if (month! < 1 || month! > 12 || day! < 1 || day! > 31 || hour! > 23 || minute! > 59 || second! > 59) {
    return undefined;
  }
  return zonedToEpoch(
    { year: year!, month: month!, day: day!, hour: hour!, minute: minute!, second: second! },
    timeZone,
  );
}

/** ISO 8601 in UTC truncated to whole seconds, the form used in ids and on the wire. */
export function isoUtc(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
