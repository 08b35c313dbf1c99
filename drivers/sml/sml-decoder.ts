/**
 * Decoder of SML's binary encoding (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language" 1.04, the binary
 * encoding of the data types with the Type-Length field) into a small typed tree. Pure and bounds-checked: any
 * input that is not well-formed SML throws a GatewayError FRAME_MALFORMED, never a RangeError.
 *
 * TL field: bit 7 = another TL byte follows, bits 6–4 = type (000 octet string, 100 boolean, 101 integer,
 * 110 unsigned, 111 list), bits 3–0 = length. Further TL bytes carry type 000 and 4 more (lower) length bits.
 * For lists the length is the number of elements; otherwise it counts the whole element, TL bytes included, so
 * `01` is an empty octet string, which marks an optional field as absent. `00` is endOfSmlMsg.
 *
 * Every node carries its byte range so the parser can check a message's CRC over its exact bytes.
 */
import { GatewayError } from '../../gateway/errors.ts';

interface Span {
  /** Offset of the element's first TL byte in the decoded buffer. */
  offset: number;
  /** Offset just past the element. */
  end: number;
}

export type SmlOctets = Span & { type: 'octets'; bytes: Buffer };
export type SmlBool = Span & { type: 'bool'; value: boolean };
/** Signed (Integer8…64) or unsigned (Unsigned8…64) integer; `size` in bytes (1–8, meters also send 3, 5…7). */
export type SmlInteger = Span & { type: 'int' | 'uint'; value: bigint; size: number };
export type SmlList = Span & { type: 'list'; items: SmlNode[] };
/** The `00` that closes an SML_Message. */
export type SmlEndOfMessage = Span & { type: 'endOfMessage' };
export type SmlNode = SmlOctets | SmlBool | SmlInteger | SmlList | SmlEndOfMessage;

/** Deeper than any SML structure a meter sends (an SML_ListEntry's time sits at depth 7). */
const MAX_DEPTH = 32;
/** Four TL bytes give lengths up to 65 535, more than a bounded frame can hold. */
const MAX_TL_BYTES = 4;

function malformed(message: string, at: number): never {
  throw new GatewayError('FRAME_MALFORMED', `SML ${message} at byte ${at}`);
}

/** Decodes the messages of one SML file (transport removed, padding stripped): a sequence of lists. */
export function decodeSmlMessages(data: Buffer): SmlList[] {
  const messages: SmlList[] = [];
  let pos = 0;
  while (pos < data.length) {
    const node = decodeNode(data, pos, 0);
    if (node.type !== 'list') malformed('message is not a list', pos);
    messages.push(node);
    pos = node.end;
  }
  return messages;
}

/** Decodes the element starting at `pos`. */
export function decodeNode(data: Buffer, pos: number, depth: number): SmlNode {
  if (pos >= data.length) malformed('data ends where an element is expected', pos);
  const first = data[pos]!;
  if (first === 0x00) return { type: 'endOfMessage', offset: pos, end: pos + 1 };
  const type = (first >> 4) & 0x07;
  let length = first & 0x0f;
  let tlBytes = 1;
  let more = (first & 0x80) !== 0;
  while (more) {
    if (tlBytes === MAX_TL_BYTES) malformed('TL field too long', pos);
    if (pos + tlBytes >= data.length) malformed('data ends inside a TL field', pos);
    const next = data[pos + tlBytes]!;
    if ((next & 0x70) !== 0) malformed('TL continuation byte carries a type', pos);
    length = (length << 4) | (next & 0x0f);
    more = (next & 0x80) !== 0;
    tlBytes++;
  }
  const start = pos + tlBytes;
  if (type === 0b111) return decodeList(data, pos, start, length, depth);
  if (length < tlBytes) malformed('element shorter than its TL field', pos);
  const end = pos + length;
  if (end > data.length) malformed('element runs past the end of the data', pos);
  const bytes = data.subarray(start, end);
  switch (type) {
    case 0b000:
      return { type: 'octets', bytes, offset: pos, end };
    case 0b100:
      if (bytes.length !== 1) malformed('boolean is not one byte', pos);
      return { type: 'bool', value: bytes[0] !== 0, offset: pos, end };
    case 0b101:
    case 0b110: {
      if (bytes.length < 1 || bytes.length > 8) malformed('integer is not 1 to 8 bytes', pos);
      let value = 0n;
      for (const byte of bytes) value = (value << 8n) | BigInt(byte);
      const signed = type === 0b101;
      if (signed) value = BigInt.asIntN(bytes.length * 8, value);
      return { type: signed ? 'int' : 'uint', value, size: bytes.length, offset: pos, end };
    }
    default:
      return malformed(`unknown type ${type}`, pos);
  }
}

function decodeList(data: Buffer, pos: number, start: number, count: number, depth: number): SmlList {
  if (depth >= MAX_DEPTH) malformed('lists nested too deeply', pos);
  // Every element takes at least one byte: reject impossible counts before allocating anything.
  if (count > data.length - start) malformed('list has more elements than bytes', pos);
  const items: SmlNode[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const item = decodeNode(data, at, depth + 1);
    items.push(item);
    at = item.end;
  }
  return { type: 'list', items, offset: pos, end: at };
}
