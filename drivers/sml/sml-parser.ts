/**
 * SML file → MeterFrame (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language" 1.04). Pure: the bytes of one
 * transport file as `SmlFramer` emits them in, a verified frame or a GatewayError out (FRAME_CHECKSUM,
 * FRAME_MALFORMED, FRAME_TRUNCATED). The transport CRC and every message's CRC are checked here again, so the
 * function is safe on any input.
 *
 * What is read (chapter 6 "SML-Nachrichten"):
 * - SML_PublicOpen.Res: serverId, refTime;
 * - SML_GetList.Res: serverId, actSensorTime, actGatewayTime and valList. Each SML_ListEntry with an integer
 *   value becomes an ObisValue: value × 10^scaler, unit from the DLMS code (`dlms-units.ts`), valTime when it is
 *   absolute. Octet-string and boolean values (manufacturer, device id, public key) are not kept; 1-0:96.1.0 or
 *   else 1-0:0.0.9 gives the serial (hex);
 * - SML_PublicClose.Res and any other message: CRC checked, content ignored.
 *
 * Times (SML_Time): only timestamp (choice 2, UTC seconds) and localTimestamp (choice 3, whose first field is
 * that same UTC timestamp) become `{ kind: 'epoch' }`. secIndex (choice 1) counts seconds since an unspecified
 * moment of the meter (eHZ: since manufacture or power-up), so it cannot be placed in time and is ignored; the
 * eHZ captures this driver was built on send only secIndex, so their frames carry no time.
 */
import type { MeterFrame, MeterTime, ObisValue } from '../common/meter-frame.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { crc16X25, swapBytes16 } from './crc16-x25.ts';
import { unitName } from './dlms-units.ts';
import { decodeSmlMessages, type SmlList, type SmlNode } from './sml-decoder.ts';
import { formatObis } from './sml-obis.ts';
import { unwrapTransport } from './sml-transport.ts';

/** SML_MessageBody choice tags. */
export const SML_OPEN_RESPONSE = 0x0101;
export const SML_CLOSE_RESPONSE = 0x0201;
export const SML_GET_LIST_RESPONSE = 0x0701;

const TIME_SEC_INDEX = 1n;
const TIME_TIMESTAMP = 2n;
const TIME_LOCAL_TIMESTAMP = 3n;

/** OBIS codes whose octet-string value is the meter's serial, most specific first. */
const SERIAL_CODES = ['1-0:96.1.0', '1-0:0.0.9'];

function malformed(message: string): never {
  throw new GatewayError('FRAME_MALFORMED', `SML ${message}`);
}

/** Parses one complete SML transport file. */
export function parseSmlFrame(frame: Buffer): MeterFrame {
  const data = unwrapTransport(frame);
  const messages = decodeSmlMessages(data);
  if (messages.length === 0) malformed('file holds no message');
  const result: MeterFrame = { values: [] };
  const serials = new Map<string, string>();
  let openTime: MeterTime | undefined;
  for (const message of messages) {
    const { tag, body } = readMessage(data, message);
    if (tag === SML_OPEN_RESPONSE) {
      const fields = listOf(body, 6, 'SML_PublicOpen.Res');
      result.identification ??= optionalHex(fields[3]!);
      openTime = readTime(fields[4]!);
    } else if (tag === SML_GET_LIST_RESPONSE) {
      const fields = listOf(body, 7, 'SML_GetList.Res');
      const serverId = optionalHex(fields[1]!);
      if (serverId !== undefined) result.identification = serverId;
      result.time ??= readTime(fields[3]!) ?? readTime(fields[6]!);
      if (fields[4]!.type !== 'list') malformed('valList is not a list');
      for (const entry of fields[4]!.items) readEntry(entry, result.values, serials);
    }
  }
  result.time ??= openTime;
  if (result.time === undefined) delete result.time;
  const serial = SERIAL_CODES.map((code) => serials.get(code)).find((s) => s !== undefined);
  if (serial !== undefined) result.serial = serial;
  else if (result.identification !== undefined) result.serial = result.identification;
  if (result.identification === undefined) delete result.identification;
  return result;
}

/** Checks an SML_Message's shape and CRC; returns its body's tag and content. */
function readMessage(data: Buffer, message: SmlList): { tag: number; body: SmlNode } {
  const [, , , messageBody, crc, end] = listOf(message, 6, 'SML_Message');
  if (end!.type !== 'endOfMessage') malformed('message does not end with endOfSmlMsg');
  if (crc!.type !== 'uint' || crc!.size > 2) malformed('message crc16 is not an Unsigned16');
  // The CRC covers the message from its first TL byte up to, not including, the crc16 field.
  if (crc!.value !== BigInt(swapBytes16(crc16X25(data, message.offset, crc!.offset)))) {
    throw new GatewayError('FRAME_CHECKSUM', 'SML message CRC mismatch');
  }
  const [tag, body] = listOf(messageBody!, 2, 'SML_MessageBody');
  if (tag!.type !== 'uint') malformed('message body tag is not unsigned');
  return { tag: Number(tag!.value), body: body! };
}

function readEntry(node: SmlNode, values: ObisValue[], serials: Map<string, string>): void {
  const [objName, , valTime, unit, scaler, value] = listOf(node, 7, 'SML_ListEntry');
  if (objName!.type !== 'octets') malformed('objName is not an octet string');
  const obis = formatObis(objName!.bytes);
  if (value!.type === 'octets') {
    if (SERIAL_CODES.includes(obis) && value!.bytes.length > 0)
      serials.set(obis, value!.bytes.toString('hex'));
    return;
  }
  if (value!.type !== 'int' && value!.type !== 'uint') return;
  const reading: ObisValue = {
    obis,
    value: scale(value!.value, optionalInteger(scaler!, 'scaler') ?? 0),
    unit: unitOf(unit!),
  };
  const time = readTime(valTime!);
  if (time) reading.time = time;
  values.push(reading);
}

/** value × 10^scaler, dividing for negative scalers so 43730 × 10^-1 is exactly 4373. */
function scale(value: bigint, scaler: number): number {
  const n = Number(value);
  return scaler >= 0 ? n * 10 ** scaler : n / 10 ** -scaler;
}

function unitOf(node: SmlNode): string | undefined {
  const code = optionalInteger(node, 'unit');
  return code === undefined ? undefined : unitName(code);
}

/** SML_Time, optional: an absolute instant, or undefined for absent, secIndex or an unknown choice. */
function readTime(node: SmlNode): MeterTime | undefined {
  if (isAbsent(node)) return undefined;
  const [choice, value] = listOf(node, 2, 'SML_Time');
  if (choice!.type !== 'uint') malformed('SML_Time choice is not unsigned');
  if (choice!.value === TIME_SEC_INDEX) return undefined;
  let seconds: SmlNode | undefined;
  if (choice!.value === TIME_TIMESTAMP) seconds = value;
  else if (choice!.value === TIME_LOCAL_TIMESTAMP) seconds = listOf(value!, 3, 'SML_TimestampLocal')[0];
  else return undefined;
  if (seconds!.type !== 'uint') malformed('SML_Timestamp is not unsigned');
  return { kind: 'epoch', epochMs: Number(seconds!.value) * 1000 };
}

function listOf(node: SmlNode, length: number, what: string): SmlNode[] {
  if (node.type !== 'list' || node.items.length !== length) malformed(`${what} is not a list of ${length}`);
  return node.items;
}

function isAbsent(node: SmlNode): boolean {
  return node.type === 'octets' && node.bytes.length === 0;
}

function optionalHex(node: SmlNode): string | undefined {
  if (isAbsent(node)) return undefined;
  if (node.type !== 'octets') malformed('server id is not an octet string');
  return node.bytes.toString('hex');
}

function optionalInteger(node: SmlNode, what: string): number | undefined {
  if (isAbsent(node)) return undefined;
  if (node.type !== 'int' && node.type !== 'uint') malformed(`${what} is not an integer`);
  return Number(node.value);
}
