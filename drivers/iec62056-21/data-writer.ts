/**
 * Writes IEC 62056-21 data messages for the meter emulator (`meter-responder.ts`): a mode A/B/C data message
 * STX, data lines, "!" CR LF, ETX, BCC (6.3.4), or a mode D push "/ident" CR LF CR LF, data lines, "!" CR LF.
 * Lines follow the Iskra MT174 capture: "1-0:0.0.0(serial)", "1-0:0.9.1(hhmmss)", "1-0:0.9.2(0YYMMDD)", then
 * one "obis(value*unit)" per value, with "(YYMMDDhhmm[ss])" after it when the value carries a time.
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { LocalTimestamp, ObisValue } from '../common/meter-frame.ts';
import { blockCheck } from './data-block.ts';
import { identificationMessage, type IdentificationFields } from './identification.ts';
import { ETX, STX } from './protocol.ts';

export interface DataBlockExtras {
  /** Written as 1-0:0.0.0. */
  serial?: string;
  /** The meter clock, written as 1-0:0.9.1 and 1-0:0.9.2. */
  time?: LocalTimestamp;
}

const TEXT = /^[\x20-\x7e]*$/;
const FORBIDDEN = /[()/!*]/;
const MAX_VALUE = 128;

function invalid(message: string): GatewayError {
  return new GatewayError('FRAME_MALFORMED', message);
}

const pad = (n: number) => String(n).padStart(2, '0');

function timestamp(t: LocalTimestamp): string {
  const base = `${pad(t.year % 100)}${pad(t.month)}${pad(t.day)}${pad(t.hour)}${pad(t.minute)}`;
  return t.second === 0 ? base : `${base}${pad(t.second)}`;
}

/** A value in fixed-point notation, as a meter sends it. */
function formatNumber(value: number): string {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21)
    throw invalid('value cannot be written in fixed point');
  let text = String(value);
  if (text.includes('e')) text = value.toFixed(20).replace(/\.?0+$/, '');
  if (text.length > MAX_VALUE) throw invalid(`value longer than ${MAX_VALUE} characters`);
  return text;
}

function valueLine(v: ObisValue): string {
  if (!TEXT.test(v.obis) || FORBIDDEN.test(v.obis.replace(/\*\d+$/, '')) || v.obis.length > 32) {
    throw invalid('OBIS code cannot be written as a data set address');
  }
  if (v.unit !== undefined && (!TEXT.test(v.unit) || FORBIDDEN.test(v.unit) || v.unit.length > 16)) {
    throw invalid('unit cannot be written in a data set');
  }
  const unit = v.unit === undefined || v.unit === '' ? '' : `*${v.unit}`;
  const time = v.time?.kind === 'local' ? `(${timestamp(v.time.local)})` : '';
  return `${v.obis}(${formatNumber(v.value)}${unit})${time}`;
}

/** The data lines (without CR LF) of a block holding these values. Throws FRAME_MALFORMED for unwritable ones. */
export function dataLines(values: readonly ObisValue[], extras: DataBlockExtras = {}): string[] {
  const lines: string[] = [];
  if (extras.serial !== undefined) {
    if (!TEXT.test(extras.serial) || FORBIDDEN.test(extras.serial) || extras.serial.length > MAX_VALUE) {
      throw invalid('serial cannot be written in a data set');
    }
    lines.push(`1-0:0.0.0(${extras.serial})`);
  }
  if (extras.time) {
    const t = extras.time;
    lines.push(`1-0:0.9.1(${pad(t.hour)}${pad(t.minute)}${pad(t.second)})`);
    lines.push(`1-0:0.9.2(0${pad(t.year % 100)}${pad(t.month)}${pad(t.day)})`);
  }
  for (const v of values) lines.push(valueLine(v));
  return lines;
}

/** A complete data message: STX, the lines, "!" CR LF, ETX, BCC. */
export function writeDataBlock(values: readonly ObisValue[], extras: DataBlockExtras = {}): Buffer {
  const lines = dataLines(values, extras).map((l) => `${l}\r\n`);
  const body = Buffer.from(`${lines.join('')}!\r\n`, 'latin1');
  const message = Buffer.alloc(body.length + 3);
  message[0] = STX;
  body.copy(message, 1);
  message[body.length + 1] = ETX;
  message[body.length + 2] = blockCheck(message, 1, body.length + 2);
  return message;
}

/** A mode D push: identification, an empty line, the data lines, "!" CR LF (no STX, ETX or BCC). */
export function writeModeDPush(
  identification: IdentificationFields,
  values: readonly ObisValue[],
  extras: DataBlockExtras = {},
): Buffer {
  const lines = dataLines(values, extras);
  return Buffer.concat([
    identificationMessage(identification),
    Buffer.from(`\r\n${lines.map((l) => `${l}\r\n`).join('')}!\r\n`, 'latin1'),
  ]);
}
