/**
 * The data lines of an IEC 62056-21 data block (6.3.4, data message, and its data set format): each line holds one or more
 * data sets `address(value*unit)`; some meters append more bracketed groups (`1.6.0(02.468*kW)(1703100930)`:
 * a maximum demand and its time) and some pack several data sets on one line (the Siemens 2WR5 capture).
 *
 * Addresses are OBIS codes (IEC 62056-61) in the reduced forms meters send: "1-0:1.8.0*255", "1.8.0", "6.8",
 * "C.1.0", "F.F". Numeric codes are normalised as `MeterFrame` documents; codes with letters (C service, F error,
 * L list, P profile) never become values. Of the numeric codes, value group C 0 (general purpose: ids, clock,
 * billing period counters and dates) and 96–99 (service entries, error registers, profiles) are ids and states,
 * not quantities, and are kept out of `values` too; 0.0.0 (or C.1.0) gives the serial, 0.9.1 + 0.9.2 the time.
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { LocalTimestamp, MeterTime, ObisValue } from '../common/meter-frame.ts';

export interface DataSet {
  /** The address as sent ("1-0:1.8.0*255"); empty for an address-less continuation. */
  address: string;
  /** The bracketed groups as sent, brackets removed ("0008048.375*kWh", "1703100930"). */
  groups: string[];
}

/** Data set field limits of the standard, relaxed to tolerate meters that overrun them: address 16, value 128, unit 16. */
const MAX_ADDRESS = 32;
const MAX_GROUP = 128 + 1 + 16;

const Ch = { CR: 0x0d, LF: 0x0a, OPEN: 0x28, CLOSE: 0x29, SLASH: 0x2f, BANG: 0x21 } as const;

/** Printable 7-bit characters except the delimiters "(", ")", "/", "!". */
function isDataChar(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== Ch.OPEN && c !== Ch.CLOSE && c !== Ch.SLASH && c !== Ch.BANG;
}

/** Splits a data block (the text before its "!") into data sets. Throws FRAME_MALFORMED. */
export function parseDataSets(block: string): DataSet[] {
  const sets: DataSet[] = [];
  const n = block.length;
  let i = 0;
  while (i < n) {
    const c = block.charCodeAt(i);
    if (c === Ch.CR) {
      if (block.charCodeAt(i + 1) !== Ch.LF) throw malformed('CR without LF in a data line');
      i += 2;
      continue;
    }
    const start = i;
    while (i < n && isDataChar(block.charCodeAt(i))) i++;
    if (i - start > MAX_ADDRESS) throw malformed(`data set address longer than ${MAX_ADDRESS} characters`);
    if (block.charCodeAt(i) !== Ch.OPEN) throw malformed('data set without "(" after its address');
    const set: DataSet = { address: block.slice(start, i), groups: [] };
    while (block.charCodeAt(i) === Ch.OPEN) {
      const from = ++i;
      while (i < n && isDataChar(block.charCodeAt(i))) i++;
      if (block.charCodeAt(i) !== Ch.CLOSE) throw malformed('data set value without ")"');
      if (i - from > MAX_GROUP) throw malformed(`data set value longer than ${MAX_GROUP} characters`);
      set.groups.push(block.slice(from, i++));
    }
    sets.push(set);
  }
  return sets;
}

function malformed(message: string): GatewayError {
  return new GatewayError('FRAME_MALFORMED', message);
}

export interface ObisAddress {
  /** Normalised "A-B:C.D.E" ("*F" kept only when F is not 255). */
  obis: string;
  /** Every group is a number (no C, F, L, P letter codes). */
  numeric: boolean;
  c: string;
  d: string | undefined;
  e: string | undefined;
  /** F as a number, undefined when absent or 255 (the current value). */
  f: number | undefined;
}

const OBIS_ADDRESS =
  /^(?:(\d{1,3})-(\d{1,3}):)?([0-9A-Z]{1,3})(?:\.([0-9A-Z]{1,3}))?(?:\.([0-9A-Z]{1,3}))?(?:[*&](\d{1,3}))?$/;

/** Reads an address as an OBIS code; undefined when it is not one. Codes without A-B get "1-0:". */
export function parseObisAddress(address: string): ObisAddress | undefined {
  const m = OBIS_ADDRESS.exec(address);
  if (!m) return undefined;
  const [, a = '1', b = '0', c = '', d, e, fText] = m;
  const norm = (g: string) => (/^\d+$/.test(g) ? String(Number(g)) : g);
  const groups = [a, b, c, d, e, fText].filter((g): g is string => g !== undefined);
  if (groups.some((g) => /^\d+$/.test(g) && Number(g) > 255)) return undefined;
  const f = fText === undefined || Number(fText) === 255 ? undefined : Number(fText);
  let obis = `${norm(a)}-${norm(b)}:${norm(c)}`;
  if (d !== undefined) obis += `.${norm(d)}`;
  if (e !== undefined) obis += `.${norm(e)}`;
  if (f !== undefined) obis += `*${f}`;
  const numeric = [c, d, e].every((g) => g === undefined || /^\d+$/.test(g));
  return { obis, numeric, c: norm(c), d: d && norm(d), e: e && norm(e), f };
}

const NUMBER = /^[+-]?\d+(?:\.\d+)?$/;

/** C groups whose numeric-looking values are ids, states or dates, never quantities. */
const NOT_QUANTITIES = new Set(['0', '96', '97', '98', '99']);

export interface DataContent {
  serial?: string;
  time?: MeterTime;
  values: ObisValue[];
}

/** The serial, the meter time and the numeric values of a block's data sets. */
export function interpretDataSets(sets: readonly DataSet[]): DataContent {
  const values: ObisValue[] = [];
  let serial: string | undefined;
  let serviceSerial: string | undefined;
  let clock: string | undefined;
  let date: string | undefined;
  for (const set of sets) {
    const address = parseObisAddress(set.address);
    const first = set.groups[0];
    if (!address || first === undefined) continue;
    const { c, d, e, f } = address;
    const current = f === undefined;
    if (!address.numeric) {
      if (c === 'C' && d === '1' && (e ?? '0') === '0' && current) serviceSerial ??= first.trim();
      continue;
    }
    if (c === '0' && d === '0' && (e ?? '0') === '0' && current) serial ??= first.trim();
    if (c === '0' && d === '9' && e === '1' && current) clock ??= first;
    if (c === '0' && d === '9' && e === '2' && current) date ??= first;
    if (NOT_QUANTITIES.has(c)) continue;
    const star = first.indexOf('*');
    const number = star < 0 ? first : first.slice(0, star);
    const unit = star < 0 ? '' : first.slice(star + 1);
    // "088*C&082*C" is a list (Siemens 2WR5 flow and return temperatures), not one value.
    if (!NUMBER.test(number) || unit.includes('*') || unit.includes('&')) continue;
    const value: ObisValue = {
      obis: address.obis,
      value: Number(number),
      unit: unit === '' ? undefined : unit,
    };
    const stamp = set.groups[1] === undefined ? undefined : parseTimestamp(set.groups[1]);
    if (stamp) value.time = { kind: 'local', local: stamp };
    values.push(value);
  }
  const content: DataContent = { values };
  const id = serial || serviceSerial;
  if (id) content.serial = id;
  const time = clock !== undefined && date !== undefined ? parseClock(clock, date) : undefined;
  if (time) content.time = { kind: 'local', local: time };
  return content;
}

/**
 * A date as meters send it: YYMMDD, or with a leading century digit (Iskra "0170318", EMH "1190714": both
 * mean 20YY). Separators ("17-11-03") are ignored.
 */
function dateParts(text: string): { year: number; month: number; day: number } | undefined {
  const digits = text.replace(/-/g, '');
  if (!/^[01]?\d{6}$/.test(digits)) return undefined;
  const d = digits.slice(-6);
  return { year: 2000 + Number(d.slice(0, 2)), month: Number(d.slice(2, 4)), day: Number(d.slice(4, 6)) };
}

/** The meter clock of 0.9.1 (hhmmss, or hh:mm:ss) and 0.9.2; undefined when either is no real time. */
export function parseClock(clock: string, date: string): LocalTimestamp | undefined {
  const t = clock.replace(/:/g, '');
  const day = dateParts(date);
  if (!day || !/^\d{6}$/.test(t)) return undefined;
  const hms = { hour: Number(t.slice(0, 2)), minute: Number(t.slice(2, 4)), second: Number(t.slice(4, 6)) };
  return plausible({ ...day, ...hms });
}

/**
 * The time group after a value: YYMMDDhhmm[ss], optionally with a leading century digit and a trailing DST flag
 * ("S" summer, "W" winter). Undefined when the group is not a real time (a counter, a status).
 */
export function parseTimestamp(text: string): LocalTimestamp | undefined {
  const m = /^([01]?\d{6})(\d{2})(\d{2})(\d{2})?([SW])?$/.exec(text);
  if (!m) return undefined;
  const [, datePart = '', hh = '', mm = '', ss, flag] = m;
  const day = dateParts(datePart);
  if (!day) return undefined;
  const stamp: LocalTimestamp = {
    ...day,
    hour: Number(hh),
    minute: Number(mm),
    second: ss === undefined ? 0 : Number(ss),
  };
  if (flag !== undefined) stamp.dst = flag === 'S';
  return plausible(stamp);
}

function plausible(t: LocalTimestamp): LocalTimestamp | undefined {
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.hour > 23 || t.minute > 59 || t.second > 59)
    return undefined;
  return new Date(Date.UTC(t.year, t.month - 1, t.day)).getUTCDate() === t.day ? t : undefined;
}
