/**
 * The data message of IEC 62056-21 (6.3.4): STX, data block, "!" CR LF, ETX, BCC, where the block check
 * character is the XOR of every byte after STX up to and including ETX. Mode D pushes (and meters forced out of
 * mode C, the Itron EM214 capture) send the block without ETX and BCC, the eHZ also without STX:
 * "/ident" CR LF CR LF data "!" CR LF. Whether a BCC must be present is the caller's knowledge of the meter's
 * mode (`expectBcc`), never guessed from the bytes: a bit flip must not turn a checked block into an unchecked one.
 *
 * Half-duplex optical heads echo what the reader sends, so the captures carry the reader's own request
 * ("/?!" CR LF) and option select (ACK "050" CR LF) between the meter's messages; they are skipped.
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';
import { interpretDataSets, parseDataSets, type DataContent } from './data-set.ts';
import { MAX_IDENTIFICATION_BYTES, parseIdentification } from './identification.ts';
import { ACK, CR, DEFAULT_MAX_FRAME_BYTES, ETX, LF, STX, indexOfCrLf } from './protocol.ts';

export interface ReadoutOptions {
  /** The data message must be STX … ETX BCC (modes A, B, C, E) and its BCC must match. */
  expectBcc: boolean;
  /** Longest readout accepted; default 64 KiB. */
  maxBytes?: number;
}

const BANG = 0x21;
const SLASH = 0x2f;
const QUESTION = 0x3f;

/** XOR of `bytes[from, to)`: the block check character when `from` is after STX and `to` after ETX. */
export function blockCheck(bytes: Uint8Array, from: number, to: number): number {
  let bcc = 0;
  for (let i = from; i < to; i++) bcc ^= bytes[i]!;
  return bcc;
}

/**
 * Skips blank lines and echoes of the reader's own request and option select from `from`. Returns the index of
 * the first other byte, or -1 when the bytes end before one (an echo may still be arriving).
 */
export function skipEchoes(bytes: Uint8Array, from: number): number {
  let i = from;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === CR || b === LF) {
      i++;
      continue;
    }
    if (b === SLASH && i + 1 === bytes.length) return -1;
    if (b !== ACK && !(b === SLASH && bytes[i + 1] === QUESTION)) return i;
    const end = indexOfCrLf(bytes, i);
    if (end < 0) return -1;
    i = end + 2;
  }
  return -1;
}

/** Where a search for the end of a data message stopped. */
export type MessageEnd = { end: number } | { resumeAt: number };

/**
 * Finds the end of the data message beginning at `start` (its STX, or its first data byte without BCC), looking
 * from `from` on: one past the BCC, or one past "!" CR LF without BCC. `resumeAt` says where to look again once
 * more bytes have arrived.
 */
export function findMessageEnd(
  bytes: Uint8Array,
  start: number,
  expectBcc: boolean,
  from = start,
): MessageEnd {
  if (expectBcc) {
    const etx = bytes.indexOf(ETX, Math.max(from, start + 1));
    if (etx < 0) return { resumeAt: bytes.length };
    return etx + 1 < bytes.length ? { end: etx + 2 } : { resumeAt: etx };
  }
  for (let i = Math.max(from, start); i + 2 < bytes.length; i++) {
    if (bytes[i] === BANG && bytes[i + 1] === CR && bytes[i + 2] === LF) return { end: i + 3 };
  }
  return { resumeAt: Math.max(start, bytes.length - 2) };
}

/**
 * Parses one data message (STX … ETX BCC, or without BCC its data lines through "!" CR LF, STX optional).
 * Throws FRAME_TRUNCATED (no end), FRAME_CHECKSUM (BCC mismatch) or FRAME_MALFORMED.
 */
export function parseDataMessage(bytes: Uint8Array, opts: ReadoutOptions): DataContent {
  const withStx = bytes[0] === STX;
  if (opts.expectBcc && !withStx)
    throw new GatewayError('FRAME_MALFORMED', 'data message does not begin with STX');
  const start = withStx ? 1 : 0;
  let blockEnd: number;
  if (opts.expectBcc) {
    const etx = bytes.indexOf(ETX, start);
    if (etx < 0 || etx + 1 >= bytes.length)
      throw new GatewayError('FRAME_TRUNCATED', 'data message without ETX and BCC');
    if (blockCheck(bytes, start, etx + 1) !== bytes[etx + 1]) {
      throw new GatewayError('FRAME_CHECKSUM', 'data message BCC mismatch');
    }
    if (etx + 2 !== bytes.length) throw new GatewayError('FRAME_MALFORMED', 'bytes after the BCC');
    blockEnd = etx;
  } else {
    const found = findMessageEnd(bytes, start, false);
    if (!('end' in found)) throw new GatewayError('FRAME_TRUNCATED', 'data message without "!" CR LF');
    blockEnd = found.end;
    if (blockEnd < bytes.length) {
      // A meter that sends ETX BCC anyway (the EM214 does not) has them checked.
      if (!withStx || bytes[blockEnd] !== ETX || blockEnd + 2 !== bytes.length) {
        throw new GatewayError('FRAME_MALFORMED', 'bytes after the end of the data message');
      }
      if (blockCheck(bytes, start, blockEnd + 1) !== bytes[blockEnd + 1]) {
        throw new GatewayError('FRAME_CHECKSUM', 'data message BCC mismatch');
      }
    }
  }
  // The block proper ends with "!" CR LF; nothing but printable characters and line ends may come before.
  if (
    blockEnd - start < 3 ||
    bytes[blockEnd - 3] !== BANG ||
    bytes[blockEnd - 2] !== CR ||
    bytes[blockEnd - 1] !== LF
  ) {
    throw new GatewayError('FRAME_MALFORMED', 'data block does not end with "!" CR LF');
  }
  for (let i = start; i < blockEnd - 3; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 || b > 0x7e) && b !== CR && b !== LF) {
      throw new GatewayError('FRAME_MALFORMED', 'data block contains a control or 8-bit character');
    }
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, blockEnd - 3 - start).toString('latin1');
  return interpretDataSets(parseDataSets(text));
}

/**
 * Parses a complete readout as a meter sends it: identification message, then the data message (echoes of the
 * reader's messages and blank lines around the identification are skipped). Throws FRAME_TOO_LONG,
 * FRAME_TRUNCATED, FRAME_CHECKSUM or FRAME_MALFORMED; never anything else.
 */
export function parseReadout(bytes: Uint8Array, opts: ReadoutOptions): MeterFrame {
  const max = opts.maxBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (bytes.length > max) throw new GatewayError('FRAME_TOO_LONG', `readout longer than ${max} bytes`);
  const at = skipEchoes(bytes, 0);
  if (at < 0) throw new GatewayError('FRAME_TRUNCATED', 'readout without identification');
  if (bytes[at] !== SLASH) throw new GatewayError('FRAME_MALFORMED', 'readout does not begin with "/"');
  const lineEnd = indexOfCrLf(bytes, at);
  if (lineEnd < 0) {
    const code = bytes.length - at > MAX_IDENTIFICATION_BYTES ? 'FRAME_MALFORMED' : 'FRAME_TRUNCATED';
    throw new GatewayError(code, 'identification message without CR LF');
  }
  const identification = parseIdentification(bytes.subarray(at, lineEnd + 2));
  const data = skipEchoes(bytes, lineEnd + 2);
  if (data < 0) throw new GatewayError('FRAME_TRUNCATED', 'readout without data message');
  const content = parseDataMessage(bytes.subarray(data), opts);
  return { identification: identification.text, ...content };
}
