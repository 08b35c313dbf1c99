/**
 * The value formats inside the parentheses of a P1 line (P1 5.0.2 §6.4 table 6-1, P1 4.2.2 §5.4, P1 3.0 §5.4):
 * Fn(x,y) decimal numbers with an optional "*unit", TST timestamps, and Sn octet strings written as hex.
 */
import type { LocalTimestamp } from '../common/meter-frame.ts';

/**
 * TST "YYMMDDhhmmssX", X = "S" (DST active) or "W" (not active), P1 4.2.2 §5.4 / 5.0.2 §6.4; DSMR 2.2/3.0 send
 * TST12 without X (P1 3.0 §5.4).
 */
const TST = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW]?)$/;

/** Fn(x,y) with an optional unit (P1 5.0.2 §6.9 "ID(Mv*U)"). */
const QUANTITY = /^(-?\d+(?:\.\d+)?)(?:\*([A-Za-z0-9]+))?$/;

export function isTimestampText(text: string): boolean {
  return TST.test(text);
}

/**
 * The fields of a TST as sent. Ranges are not checked: a meter with a corrupt clock (or a dummy "700101010000W"
 * for an M-Bus device that never reported) still sends good registers, and the driver decides what a time is
 * worth (`drivers/common/meter-clock.ts`). Two-digit years 70–99 are 1970–1999 (the dummy), others 20YY.
 */
export function parseTimestamp(text: string): LocalTimestamp | undefined {
  const m = TST.exec(text);
  if (!m) return undefined;
  const [yy, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const local: LocalTimestamp = { year: yy >= 70 ? 1900 + yy : 2000 + yy, month, day, hour, minute, second };
  if (m[7]) local.dst = m[7] === 'S';
  return local;
}

/** TST with the DST letter (an undefined flag is written "W"), or TST12 without it (DSMR 2.2/3.0). */
export function formatTimestamp(local: LocalTimestamp, withDst: boolean): string {
  const two = (n: number): string => String(n % 100).padStart(2, '0');
  const text = [local.year, local.month, local.day, local.hour, local.minute, local.second].map(two).join('');
  return withDst ? text + (local.dst ? 'S' : 'W') : text;
}

export interface Quantity {
  value: number;
  unit: string | undefined;
}

/** A number with an optional unit, e.g. "000004.426*kWh"; undefined when `text` is not one. */
export function parseQuantity(text: string): Quantity | undefined {
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  return { value: Number(m[1]), unit: m[2] };
}

/**
 * An octet string sent as hex (P1 5.0.2 §6.5), decoded to text when every octet is printable ASCII (equipment
 * identifiers are); otherwise the characters as sent (a DSMR 2.2 placeholder "00000000000000", a heat meter's
 * "ADC3100000158491").
 */
export function decodeOctetString(text: string): string {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(text)) return text;
  const bytes = Buffer.from(text, 'hex');
  return bytes.every((b) => b >= 0x20 && b <= 0x7e) ? bytes.toString('latin1') : text;
}

/** Text as an octet string in uppercase hex. */
export function encodeOctetString(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex').toUpperCase();
}
