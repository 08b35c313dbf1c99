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

function intlParts(epochMs: number, timeZone: string): WallParts {
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

/**
 * Zone offsets by whole minute. `Intl` formatting costs tens of microseconds and the intake asks for the same few
 * minutes (interval starts, now) over and over; offsets only change on whole minutes.
 */
const offsets = new Map<string, number>();

function offsetOfMinute(minute: number, timeZone: string): number {
  const key = `${timeZone} ${minute}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const p = intlParts(minute * 60_000, timeZone);
    offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - minute * 60_000;
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

export function wallParts(epochMs: number, timeZone: string): WallParts {
  const d = new Date(epochMs + offsetOfMinute(Math.floor(epochMs / 60_000), timeZone));
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** Minutes since local midnight. */
export function minuteOfDay(epochMs: number, timeZone: string): number {
  const p = wallParts(epochMs, timeZone);
  return p.hour * 60 + p.minute;
}

/** Local time minus UTC at an instant, in ms. */
function offsetAt(epochMs: number, timeZone: string): number {
  const p = wallParts(epochMs, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The epoch milliseconds of a local wall-clock time. In a DST gap (a wall time that does not exist) the result
 * is shifted forward by the gap; in a DST overlap (a wall time that happens twice) the earlier instant is returned.
 */
export function zonedToEpoch(w: Omit<WallParts, 'second'> & { second?: number }, timeZone: string): number {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second ?? 0);
  const DAY = 86_400_000;
  // The offsets in force a day before and a day after: at most one transition lies between them.
  const before = offsetAt(asUtc - DAY, timeZone);
  const after = offsetAt(asUtc + DAY, timeZone);
  const candidates = [asUtc - before, asUtc - after].filter((t) => offsetAt(t, timeZone) === asUtc - t);
  if (candidates.length > 0) return Math.min(...candidates);
  // In the gap: read the wall time with the offset from before the change, which moves it forward by the gap.
  return asUtc - before;
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
  // Date.UTC rolls 2012-02-30 over into March: a day that does not exist is malformed, not another day.
  if (new Date(Date.UTC(year!, month! - 1, day)).getUTCDate() !== day) return undefined;
  return zonedToEpoch(
    { year: year!, month: month!, day: day, hour: hour!, minute: minute!, second: second! },
    timeZone,
  );
}

/** ISO 8601 in UTC truncated to whole seconds, the form used in ids and on the wire. */
export function isoUtc(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
