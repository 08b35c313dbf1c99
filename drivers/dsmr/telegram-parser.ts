/**
 * DSMR P1 telegram parser: one telegram as the framer delivers it ("/XXX5Ident CR LF CR LF Data ! CRC CR LF",
 * P1 5.0.2 §6.2, P1 4.2.2 §5.2; "… Data ! CR LF" without CRC in DSMR 2.2/3.0, P1 3.0 §5.2) in, a verified
 * MeterFrame or a GatewayError out. Pure: no I/O, no clock, nothing logged.
 *
 * - FRAME_TRUNCATED: empty, no "!" or no line end after the CRC (a prefix of a telegram).
 * - FRAME_CHECKSUM: the CRC does not match, or a telegram declaring P1 version ≥ 4.0 (1-3:0.2.8) carries none.
 * - FRAME_MALFORMED: anything else that breaks the grammar (no "/XXX" header, a line that is not OBIS(…)(…),
 *   lowercase or overlong CRC digits, bytes after the CRC line, a value with a unit that is not a number).
 *
 * The CRC is checked before the lines are read, so any corruption of the data yields FRAME_CHECKSUM. Its digits
 * are compared as a number, which accepts meters that do not pad it to 4 digits (a heat meter sends "!B9F").
 * Lines may end in CR LF or LF, but the CRC covers the bytes as received: a capture whose CRs were lost fails it.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { wallParts } from '../../gateway/time/zoned.ts';
import type { LocalTimestamp, MeterFrame, ObisValue } from '../common/meter-frame.ts';
import { crc16Arc } from './crc16-arc.ts';
import { isMbusChannel, parseObis, formatObis, type ObisCode } from '../common/obis.ts';
import { readObjects, type P1Object } from './p1-lines.ts';
import { decodeOctetString, isTimestampText, parseQuantity, parseTimestamp } from './p1-values.ts';

export interface ParseTelegramOptions {
  /**
   * Keep the values of M-Bus devices behind the meter (gas, water, heat: A = 0, B ≥ 1, e.g. "0-1:24.2.1").
   * Default false: a household's gas or water use is only kept where it is configured (privacy).
   */
  mbus?: boolean;
  /**
   * Refuse telegrams without a CRC (the port is configured for DSMR 4.0 or later, which always send one). Without
   * it a CRC is required only when the telegram itself declares version 4 or later (1-3:0.2.8).
   */
  requireCrc?: boolean;
}

/**
 * "/" + 3-letter manufacturer (FLAG id, e.g. "ISk", "KFM") + the rest of the identification (P1 5.0.2 §6.2). Any
 * character but CR/LF is taken after the manufacturer: the fifth is "5" by the spec, but a heat-meter gateway
 * sends "/NWA-WARMTELINK", and an Iskra telegram carries a raw STX ("ISk5\x02MIE5T-200") under a valid CRC.
 */
const HEADER = /^\/([A-Za-z]{3}[^\r\n]+)$/;
/** Equipment identifier of the meter itself, in order of preference (P1 5.0.2 §6.12; E.ON HU and EasyMeter). */
const SERIAL_OBIS = ['0-0:96.1.1', '0-0:96.1.0', '0-0:96.1.255'];
const CLOCK_OBIS = '0-0:1.0.0';
const VERSION_OBIS = '1-3:0.2.8';

/**
 * Verifies and parses one telegram, from "/" through the line end after "!". Throws a GatewayError (FRAME_*);
 * its message names the line or OBIS code at fault, never a value.
 */
export function parseTelegram(bytes: Buffer, options: ParseTelegramOptions = {}): MeterFrame {
  const text = bytes.toString('latin1');
  const { bang, hasCrc } = checkEnvelope(bytes, text);
  const lines = text.slice(0, bang).split('\n');
  // The data ends with a line end and "!" starts the last line.
  if (lines.pop() !== '') throw malformed('"!" is not at the start of a line');
  for (let i = 0; i < lines.length; i++) if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);
  const header = HEADER.exec(lines[0]!);
  if (!header) throw malformed('no "/XXX" identification header');
  const objects = readObjects(lines);

  const version = objects.find((o) => o.obis === VERSION_OBIS)?.groups[0];
  if (!hasCrc && options.requireCrc) {
    throw new GatewayError(
      'FRAME_CHECKSUM',
      'telegram carries no CRC, but the port is set to DSMR 4.0 or later',
    );
  }
  if (!hasCrc && version !== undefined && Number(version) >= 40) {
    throw new GatewayError('FRAME_CHECKSUM', `telegram declares P1 version ${version} but carries no CRC`);
  }

  const frame: MeterFrame = { identification: header[1]!, values: [] };
  const serials = new Map<string, string>();
  for (const object of objects) {
    const { code, obis, groups } = object;
    // Profile buffers: the power failure log 1-0:99.97.0 (P1 5.0.2 §6.11), Fluvius/E.ON 0-0:98.1.0 histories.
    if (code.c === 98 || code.c === 99) continue;
    if (isMbusChannel(code) && !options.mbus) continue;
    if (obis === CLOCK_OBIS) {
      const time = groups.length === 1 ? parseTimestamp(groups[0]!) : undefined;
      if (!time) throw malformed(`${obis} is not a timestamp`);
      frame.time = { kind: 'local', local: time };
    } else if (SERIAL_OBIS.includes(obis)) {
      if (groups[0]) serials.set(obis, decodeOctetString(groups[0]));
    } else if (isText(code)) {
      continue;
    } else if (code.c === 24 && code.d === 3) {
      frame.values.push(...legacyProfile(object));
    } else {
      const value = numericValue(object);
      if (value) frame.values.push(value);
    }
  }
  const serial = SERIAL_OBIS.map((o) => serials.get(o)).find((s) => s !== undefined);
  if (serial !== undefined) frame.serial = serial;
  return frame;
}

/** Finds the "!", checks the CRC line and the CRC. */
function checkEnvelope(bytes: Buffer, text: string): { bang: number; hasCrc: boolean } {
  if (bytes.length === 0) throw truncated('empty telegram');
  if (text[0] !== '/') throw malformed('telegram does not start with "/"');
  const bang = text.indexOf('!');
  if (bang < 0) throw truncated('no "!" end of data');
  const tail = text.slice(bang + 1);
  // Uppercase only: a lowercase digit is one bit flip away from its uppercase twin.
  const digits = /^[0-9A-F]*/.exec(tail)![0];
  const end = tail.slice(digits.length);
  if (digits.length > 4) throw malformed('CRC longer than 4 hex digits');
  if (end === '' || end === '\r') throw truncated('CRC line not terminated');
  if (end !== '\r\n' && end !== '\n') throw malformed('unexpected bytes in or after the CRC line');
  if (digits.length > 0 && parseInt(digits, 16) !== crc16Arc(bytes, 0, bang + 1)) {
    throw new GatewayError('FRAME_CHECKSUM', 'telegram CRC mismatch');
  }
  return { bang, hasCrc: digits.length > 0 };
}

/**
 * Identifiers, versions, messages and status words: octet strings (P1 5.0.2 §6.12 "Sn, tag 9") that may look
 * numeric ("50217", hex text) but are not quantities. 96.14.0, the tariff indicator ("0002"), is kept as a number.
 */
function isText({ c, d }: ObisCode): boolean {
  return (
    (c === 0 && (d === 0 || d === 2)) || // equipment id 0.0.x, P1 version 0.2.8
    (c === 96 && (d === 1 || d === 5 || d === 13)) || // ids, status words, text messages
    (c === 42 && d === 0) // COSEM logical device name
  );
}

/** "ID(Mv*U)" (P1 5.0.2 §6.9) or "ID(TST)(Mv*U)" (§6.10, M-Bus values and BE peak demand 1-0:1.6.0). */
function numericValue({ obis, groups }: P1Object): ObisValue | undefined {
  let time: LocalTimestamp | undefined;
  let text: string;
  if (groups.length === 1) {
    text = groups[0]!;
  } else if (groups.length === 2 && isTimestampText(groups[0]!)) {
    time = parseTimestamp(groups[0]!);
    text = groups[1]!;
  } else {
    return undefined;
  }
  const quantity = parseQuantity(text);
  if (!quantity) {
    if (text.includes('*')) throw malformed(`${obis} has a unit but no number`);
    return undefined;
  }
  const value: ObisValue = { obis, value: quantity.value, unit: quantity.unit };
  if (time) value.time = { kind: 'local', local: time };
  return value;
}

/**
 * DSMR 2.2/3.0 M-Bus profile "0-n:24.3.0(TST12)(status)(period min)(z)(ID1)(U1)…(IDz)(Uz)" followed by rows of
 * z values, oldest first, the first row at TST12 (P1 3.0 §5.10). Each value is given the OBIS code of its capture
 * object (e.g. "0-1:24.2.1"), so gas reads the same as in DSMR 4/5.
 */
function legacyProfile({ obis, groups }: P1Object): ObisValue[] {
  const bad = (): GatewayError => malformed(`${obis} is not a profile "(TST)(status)(period)(z)(ID)(unit)…"`);
  const start = groups[0] === undefined ? undefined : parseTimestamp(groups[0]);
  const period = Number(groups[2]);
  const z = Number(groups[3]);
  if (!start || !/^\d+$/.test(groups[2] ?? '') || !/^[1-9]\d?$/.test(groups[3] ?? '')) throw bad();
  const captured: { obis: string; unit: string | undefined }[] = [];
  for (let k = 0; k < z; k++) {
    const code = parseObis(groups[4 + 2 * k] ?? '');
    const unit = groups[5 + 2 * k];
    if (!code || unit === undefined) throw bad();
    captured.push({ obis: formatObis(code), unit: unit === '' ? undefined : unit });
  }
  const cells = groups.slice(4 + 2 * z);
  if (cells.length % z !== 0) throw bad();
  const values: ObisValue[] = [];
  cells.forEach((cell, i) => {
    if (cell === '') return;
    const quantity = parseQuantity(cell);
    if (!quantity) throw bad();
    const { obis: capturedObis, unit } = captured[i % z]!;
    const local = addMinutes(start, Math.floor(i / z) * period);
    values.push({
      obis: capturedObis,
      value: quantity.value,
      unit: quantity.unit ?? unit,
      time: { kind: 'local', local },
    });
  });
  return values;
}

/** Wall-clock arithmetic on a local time without zone (TST12 carries no DST flag): UTC has no gaps or overlaps. */
function addMinutes(local: LocalTimestamp, minutes: number): LocalTimestamp {
  if (minutes === 0) return local;
  const { year, month, day, hour, minute, second } = local;
  return wallParts(Date.UTC(year, month - 1, day, hour, minute + minutes, second), 'UTC');
}

function malformed(message: string): GatewayError {
  return new GatewayError('FRAME_MALFORMED', message);
}

function truncated(message: string): GatewayError {
  return new GatewayError('FRAME_TRUNCATED', message);
}
