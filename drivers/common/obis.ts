/**
 * OBIS codes (IEC 62056-61) in text: "A-B:C.D.E[*F]", as DSMR (P1 5.0.2 §6.4 "Value group F is not used"),
 * IEC 62056-21 data sets and register maps write them; some meters append "*255" (EasyMeter) or "&F". Normalised as
 * `meter-frame.ts` says: F dropped when 255, else kept as "*F"; no A-B means electricity ("1-0:"). The one parser
 * of OBIS text for every protocol (SML's binary objName is formatted with `formatObis` too).
 */

/** The value groups of an OBIS code, each 0–255. */
export interface ObisCode {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  /** Group F when the meter sent one other than 255. */
  f?: number;
}

const OBIS = /^(?:(\d{1,3})-(\d{1,3}):)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[*&](\d{1,3}))?$/;

/** The groups of an OBIS code as sent, or undefined when `text` is not one. */
export function parseObis(text: string): ObisCode | undefined {
  const m = OBIS.exec(text);
  if (!m) return undefined;
  const [a, b, c, d, e, f] = m.slice(1).map((g) => (g === undefined ? undefined : Number(g)));
  const groups = [a ?? 1, b ?? 0, c!, d!, e!];
  if (groups.some((g) => g > 255) || (f !== undefined && f > 255)) return undefined;
  const code: ObisCode = { a: groups[0]!, b: groups[1]!, c: groups[2]!, d: groups[3]!, e: groups[4]! };
  if (f !== undefined && f !== 255) code.f = f;
  return code;
}

/** The normalised text form, e.g. "1-0:1.8.1" or "1-0:1.8.0*1". */
export function formatObis(code: ObisCode): string {
  const base = `${code.a}-${code.b}:${code.c}.${code.d}.${code.e}`;
  return code.f === undefined ? base : `${base}*${code.f}`;
}

/**
 * True for a value of an M-Bus device behind the meter (gas, water, heat, a slave E-meter): A = 0 (abstract) with
 * channel B ≥ 1, e.g. "0-1:24.2.1" (P1 5.0.2 §6.12: "the OBIS reference Channel number (n) will be defined by
 * the installing order of the M-Bus devices").
 */
export function isMbusChannel(code: ObisCode): boolean {
  return code.a === 0 && code.b >= 1;
}

/** The normalised text of an OBIS code as sent, or undefined when `text` is not one. */
export function normaliseObis(text: string): string | undefined {
  const code = parseObis(text.trim());
  return code && formatObis(code);
}
