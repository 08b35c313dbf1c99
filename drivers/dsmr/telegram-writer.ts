/**
 * The inverse of `parseTelegram`, for emulated meters: a telegram as a meter of the given DSMR version writes it
 * (header, the version's header lines, its number widths, CR LF line ends, and for 4.0 and later the CRC as 4
 * uppercase hex digits, P1 5.0.2 §6.2). Values are written in the order given; the caller picks which (e.g.
 * 1-0:1.8.1/1.8.2 from a household's cumulative kWh) and in which unit, which is written as given.
 */
import type { LocalTimestamp, MeterTime, ObisValue } from '../common/meter-frame.ts';
import { crc16Arc } from './crc16-arc.ts';
import { hasCrc, type DsmrVersion } from './dsmr-version.ts';
import { formatObis, isMbusChannel, parseObis } from '../common/obis.ts';
import { encodeOctetString, formatTimestamp } from './p1-values.ts';
import { digitFormat, formatNumber } from './value-formats.ts';

export interface DsmrTelegram {
  version: DsmrVersion;
  /** What follows "/" in the header, e.g. "ISk5\\2MT382-1000": 3 letters (manufacturer), then printable ASCII. */
  identification: string;
  /** The meter clock as 0-0:1.0.0, local with its DST flag (4.0 and later: DSMR 2.2/3.0 send no clock). */
  time?: MeterTime;
  /** Equipment identifier, written hex-encoded as 0-0:96.1.1. */
  serial?: string;
  /**
   * Numeric values. One with a time is written "ID(TST)(v*U)" (P1 5.0.2 §6.10), or for an M-Bus channel in
   * DSMR 2.2/3.0 as the "0-n:24.3.0" profile with the value on the next line (P1 3.0 §5.10).
   */
  values: readonly ObisValue[];
}

/** P1 version as 1-3:0.2.8 states it (S2), where the version has that line. */
const VERSION_LINE: Partial<Record<DsmrVersion, string>> = { '4.0': '40', '4.2': '42', '5.0': '50' };
/** The e-MUCS version the Belgian meters send as 0-0:96.1.4 (TELEGRAM_FLUVIUS_V171). */
const BE_VERSION = '50217';

/** Throws RangeError for input no meter could send (bad OBIS, unit or identification, an epoch time). */
export function writeTelegram(telegram: DsmrTelegram): Buffer {
  const { version, identification, serial } = telegram;
  if (!/^[A-Za-z]{3}[\x21-\x7e][\x20-\x7e]*$/.test(identification) || /[/!]/.test(identification)) {
    throw new RangeError('identification must be 3 letters then printable ASCII without "/" or "!"');
  }
  const legacy = !hasCrc(version);
  const lines = [`/${identification}`, ''];
  const versionLine = VERSION_LINE[version];
  if (versionLine) lines.push(`1-3:0.2.8(${versionLine})`);
  if (version === '5.0.2-be') lines.push(`0-0:96.1.4(${BE_VERSION})`);
  const serialLine = serial === undefined ? undefined : `0-0:96.1.1(${encodeOctetString(printable(serial))})`;
  if (serialLine && version === '5.0.2-be') lines.push(serialLine);
  if (telegram.time && !legacy) lines.push(`0-0:1.0.0(${formatTimestamp(localOf(telegram.time), true)})`);
  if (serialLine && version !== '5.0.2-be') lines.push(serialLine);
  for (const value of telegram.values) lines.push(...valueLines(version, value));

  const data = Buffer.from(`${lines.map((l) => `${l}\r\n`).join('')}!`, 'latin1');
  const crc = legacy ? '' : crc16Arc(data).toString(16).toUpperCase().padStart(4, '0');
  return Buffer.concat([data, Buffer.from(`${crc}\r\n`, 'latin1')]);
}

function valueLines(version: DsmrVersion, { obis, value, unit, time }: ObisValue): string[] {
  const code = parseObis(obis);
  if (!code) throw new RangeError('not an OBIS code "A-B:C.D.E"');
  if (!Number.isFinite(value)) throw new RangeError(`${obis}: value is not a finite number`);
  if (unit !== undefined && !/^[A-Za-z0-9]+$/.test(unit))
    throw new RangeError(`${obis}: unit is not alphanumeric`);
  const id = formatObis(code);
  const number = formatNumber(value, digitFormat(version, code, unit));
  const quantity = unit === undefined ? number : `${number}*${unit}`;
  if (!time) return [`${id}(${quantity})`];
  const legacy = !hasCrc(version);
  const local = localOf(time);
  if (legacy && isMbusChannel(code)) {
    // Hourly profile: TST12 of the value, status 00, period 60 min, 1 value of `id` in `unit` (P1 3.0 §5.12).
    return [
      `0-${code.b}:24.3.0(${formatTimestamp(local, false)})(00)(60)(1)(${id})(${unit ?? ''})`,
      `(${number})`,
    ];
  }
  return [`${id}(${formatTimestamp(local, !legacy)})(${quantity})`];
}

function localOf(time: MeterTime): LocalTimestamp {
  if (time.kind !== 'local') throw new RangeError('DSMR sends local time: give a local MeterTime');
  return time.local;
}

function printable(text: string): string {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new RangeError('serial must be printable ASCII');
  return text;
}
