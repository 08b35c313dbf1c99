/**
 * Builds SML files the way an eHZ meter pushes them (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language"
 * 1.04): SML_PublicOpen.Res, one SML_GetList.Res with the given entries, SML_PublicClose.Res, each with its CRC,
 * wrapped in transport version 1 (escapes, padding, CRC). For the meter emulator; the inverse of
 * `parseSmlFrame` for what it reads.
 *
 * The layout copies the captured eHZ files: 4-byte transaction ids, listName 1-0:98.10.0*255 ("0100620affff"),
 * values as Integer64, unit Unsigned8, scaler Integer8, optional fields absent (`01`).
 */
import { crc16X25, swapBytes16 } from './crc16-x25.ts';
import { unitCode } from './dlms-units.ts';
import { obisBytes } from './sml-obis.ts';
import { SML_CLOSE_RESPONSE, SML_GET_LIST_RESPONSE, SML_OPEN_RESPONSE } from './sml-parser.ts';
import { wrapTransport } from './sml-transport.ts';

export interface SmlWriterEntry {
  /** OBIS code as MeterFrame writes it, e.g. "1-0:1.8.0" (F = 255 unless "*F" is given). */
  obis: string;
  /** Unit name as `parseSmlFrame` returns it ("Wh", "W", "V", …); absent when undefined. */
  unit?: string;
  /** Power of ten the value is multiplied by (Integer8), default 0: value 43730 with scaler -1 is 4373.0. */
  scaler?: number;
  /** Raw integer as sent, before scaling. */
  value: number | bigint;
}

export interface SmlFileOptions {
  /** The meter's server id (eHZ: 10 bytes; the captures carry 09 01 44 4e 54 01 00 00 20 30). */
  serverId: Buffer;
  entries: readonly SmlWriterEntry[];
  /** Transaction id of the first message; the others count on (eHZ count up by 3 per file). Default 1. */
  transactionId?: number;
  /** actSensorTime: a secIndex as eHZ send, or an absolute time; absent when undefined. */
  sensorTime?: { secIndex: number } | { epochMs: number };
}

const ABSENT = Buffer.from([0x01]);
const LIST_NAME = Buffer.from('0100620affff', 'hex');
const TYPE_OCTETS = 0x0;
const TYPE_INT = 0x5;
const TYPE_UINT = 0x6;
const TYPE_LIST = 0x7;

/** One complete SML transport file. Throws RangeError for entries it cannot encode. */
export function buildSmlFile(options: SmlFileOptions): Buffer {
  const tx = options.transactionId ?? 1;
  const open = list([ABSENT, ABSENT, octets(uint32Bytes(tx)), octets(options.serverId), ABSENT, ABSENT]);
  const getList = list([
    ABSENT,
    octets(options.serverId),
    octets(LIST_NAME),
    sensorTime(options.sensorTime),
    list(options.entries.map(entry)),
    ABSENT,
    ABSENT,
  ]);
  const close = list([ABSENT]);
  return wrapTransport(
    Buffer.concat([
      message(tx, SML_OPEN_RESPONSE, open),
      message(tx + 1, SML_GET_LIST_RESPONSE, getList),
      message(tx + 2, SML_CLOSE_RESPONSE, close),
    ]),
  );
}

/** SML_Message: transactionId, groupNo 0, abortOnError 0, body, crc16 over all before it, endOfSmlMsg. */
function message(tx: number, tag: number, body: Buffer): Buffer {
  const head = Buffer.concat([
    Buffer.from([(TYPE_LIST << 4) | 6]),
    octets(uint32Bytes(tx)),
    unsigned(0, 1),
    unsigned(0, 1),
    list([unsigned(tag, 2), body]),
  ]);
  return Buffer.concat([head, unsigned(swapBytes16(crc16X25(head)), 2), Buffer.from([0x00])]);
}

function entry(e: SmlWriterEntry): Buffer {
  const name = obisBytes(e.obis);
  if (!name) throw new RangeError(`not an OBIS code: ${e.obis}`);
  const scaler = e.scaler ?? 0;
  if (!Number.isInteger(scaler) || scaler < -128 || scaler > 127)
    throw new RangeError('scaler is not an Integer8');
  let unit: Buffer = ABSENT;
  if (e.unit !== undefined) {
    const code = unitCode(e.unit);
    if (code === undefined) throw new RangeError(`no DLMS unit code for ${e.unit}`);
    unit = unsigned(code, 1);
  }
  if (typeof e.value === 'number' && !Number.isSafeInteger(e.value)) {
    throw new RangeError('value must be an integer (use scaler for decimals)');
  }
  const value = BigInt(e.value);
  if (value !== BigInt.asIntN(64, value)) throw new RangeError('value does not fit an Integer64');
  const int64 = Buffer.alloc(9);
  int64[0] = (TYPE_INT << 4) | 9;
  int64.writeBigInt64BE(value, 1);
  const int8 = Buffer.from([(TYPE_INT << 4) | 2, scaler & 0xff]);
  return list([octets(name), ABSENT, ABSENT, unit, int8, int64, ABSENT]);
}

function sensorTime(time: SmlFileOptions['sensorTime']): Buffer {
  if (time === undefined) return ABSENT;
  const [choice, value] = 'secIndex' in time ? [1, time.secIndex] : [2, Math.floor(time.epochMs / 1000)];
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new RangeError('time is not an Unsigned32');
  return list([unsigned(choice, 1), unsigned(value, 4)]);
}

function unsigned(value: number, size: number): Buffer {
  const out = Buffer.alloc(size + 1);
  out[0] = (TYPE_UINT << 4) | (size + 1);
  out.writeUIntBE(value, 1, size);
  return out;
}

function uint32Bytes(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

function octets(bytes: Buffer): Buffer {
  return Buffer.concat([tl(TYPE_OCTETS, bytes.length, true), bytes]);
}

function list(items: Buffer[]): Buffer {
  return Buffer.concat([tl(TYPE_LIST, items.length, false), ...items]);
}

/**
 * A TL field: one byte while the length fits 4 bits, else more bytes of 4 length bits each (bit 7 = another
 * follows). For octet strings the length counts the TL bytes too; for lists it is the number of elements.
 */
function tl(type: number, length: number, countsItself: boolean): Buffer {
  let bytes = 1;
  while ((countsItself ? length + bytes : length) >= 16 ** bytes) bytes++;
  let rest = countsItself ? length + bytes : length;
  const out = Buffer.alloc(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = (rest & 0x0f) | (i < bytes - 1 ? 0x80 : 0);
    rest >>>= 4;
  }
  out[0] = out[0]! | (type << 4);
  return out;
}
