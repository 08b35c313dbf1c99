/**
 * SML transport protocol version 1 (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language" 1.04): a file is
 * `1b1b1b1b 01010101`, the messages, 0–3 zero padding bytes so the file length is a multiple of 4, then
 * `1b1b1b1b 1a pp c0 c1` (pp = padding count, c0 c1 = CRC-16/X-25 over every byte before them, low byte
 * first). Four 0x1b bytes inside the data are sent twice.
 *
 * Escape sequences are found byte by byte, not only at 4-byte boundaries, as libsml and sml-rs read them: in a run
 * of 0x1b, each leading eight are one escaped `1b1b1b1b`, and a run of four to seven ends with an escape sequence
 * (so data ending in 0x1b may precede the end). One deliberate exception favours resynchronising over a
 * theoretical payload: a run of 0x1b directly followed by `01010101` always ends in a start sequence, so a frame
 * cut anywhere is followed by the next one intact; a payload holding four or more 0x1b followed by `01010101`
 * cannot be carried (no meter value or id does; the writer refuses it).
 *
 * Shared by the framer (finding frames in a stream), the parser (unwrapping one frame) and the writer.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { crc16X25 } from './crc16-x25.ts';

export const ESCAPE = Buffer.from([0x1b, 0x1b, 0x1b, 0x1b]);
/** Escape sequence + "version 1": the start of every file. */
export const START = Buffer.from([0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01]);
const VERSION_1_WORD = 0x01010101;
const END_MARK = 0x1a;

/** What the next escape sequence at or after a position is. */
export type EscapeEvent =
  /** Escaped data: four 0x1b data bytes at `at`, eight bytes on the wire. */
  | { kind: 'data'; at: number }
  /** A (new) start sequence at `at`. */
  | { kind: 'start'; at: number }
  /** The end sequence at `at`; the file ends at `at + 8`. */
  | { kind: 'end'; at: number }
  /** An escape sequence followed by nothing SML defines. */
  | { kind: 'invalid'; at: number }
  /** An escape sequence may begin at `at` but its bytes have not all arrived. */
  | { kind: 'incomplete'; at: number }
  /** No escape sequence; one may still begin at `resumeAt` once more bytes arrive. */
  | { kind: 'none'; resumeAt: number };

/** Finds the next escape sequence in `buf` at or after `from`. */
export function nextEscape(buf: Buffer, from: number): EscapeEvent {
  const at = buf.indexOf(ESCAPE, from);
  if (at < 0) return { kind: 'none', resumeAt: Math.max(from, buf.length - (ESCAPE.length - 1)) };
  // With 12 or more 0x1b the first eight are escaped data whatever follows: no need to look further.
  let runEnd = at + ESCAPE.length;
  while (runEnd < buf.length && buf[runEnd] === 0x1b && runEnd - at < 12) runEnd++;
  const run = runEnd - at;
  if (run >= 12) return { kind: 'data', at };
  if (runEnd + 4 > buf.length) return { kind: 'incomplete', at };
  const next = buf.readUInt32BE(runEnd);
  // A run of 0x1b followed by the version always ends in a start sequence (see above).
  if (next === VERSION_1_WORD) return { kind: 'start', at: runEnd - ESCAPE.length };
  if (run >= 8) return { kind: 'data', at };
  // 4 to 7 0x1b: the escape sequence is the last four, any before them are data.
  if (buf[runEnd] === END_MARK) return { kind: 'end', at: runEnd - ESCAPE.length };
  return { kind: 'invalid', at: runEnd - ESCAPE.length };
}

/**
 * Checks the trailer of a complete file (`START` … `1b1b1b1b 1a pp c0 c1`): CRC, length, padding. Returns the
 * padding count. Throws FRAME_CHECKSUM or FRAME_MALFORMED.
 */
export function checkTrailer(file: Buffer): number {
  const length = file.length;
  if (length < 16) throw new GatewayError('FRAME_MALFORMED', 'SML file shorter than its start and end');
  if (crc16X25(file, 0, length - 2) !== file.readUInt16LE(length - 2)) {
    throw new GatewayError('FRAME_CHECKSUM', 'SML transport CRC mismatch');
  }
  if (length % 4 !== 0) throw new GatewayError('FRAME_MALFORMED', 'SML file length is not a multiple of 4');
  const padding = file[length - 3]!;
  const paddingStart = length - 8 - padding;
  if (padding > 3 || paddingStart < START.length) {
    throw new GatewayError('FRAME_MALFORMED', 'SML padding count out of range');
  }
  for (let i = paddingStart; i < length - 8; i++) {
    if (file[i] !== 0) throw new GatewayError('FRAME_MALFORMED', 'SML padding bytes are not zero');
  }
  return padding;
}

/**
 * The message bytes of one complete file: start checked, CRC and padding verified, escapes removed, padding
 * stripped. Throws FRAME_CHECKSUM, FRAME_MALFORMED or FRAME_TRUNCATED (no end, or a new start before it).
 */
export function unwrapTransport(file: Buffer): Buffer {
  if (file.length < START.length || !file.subarray(0, START.length).equals(START)) {
    throw new GatewayError('FRAME_MALFORMED', 'SML file does not begin with the start sequence');
  }
  const parts: Buffer[] = [];
  let pos = START.length;
  for (;;) {
    const event = nextEscape(file, pos);
    switch (event.kind) {
      case 'data':
        parts.push(file.subarray(pos, event.at + 4));
        pos = event.at + 8;
        continue;
      case 'end': {
        if (event.at + 8 !== file.length) {
          throw new GatewayError('FRAME_MALFORMED', 'bytes after the end of the SML file');
        }
        const padding = checkTrailer(file);
        parts.push(file.subarray(pos, event.at));
        const data = Buffer.concat(parts);
        return data.subarray(0, data.length - padding);
      }
      case 'start':
        throw new GatewayError('FRAME_TRUNCATED', 'SML file cut by a new start sequence');
      case 'invalid':
        throw new GatewayError('FRAME_MALFORMED', 'unknown SML escape sequence');
      case 'incomplete':
      case 'none':
        throw new GatewayError('FRAME_TRUNCATED', 'SML file has no end sequence');
    }
  }
}

/**
 * Wraps message bytes into a complete file: start, escaped data, padding, end, CRC. Throws RangeError for the
 * one payload the reader would take for a new start (four or more 0x1b followed by `01010101`).
 */
export function wrapTransport(messages: Buffer): Buffer {
  if (messages.includes(START)) {
    throw new RangeError('SML payload holds 1b1b1b1b 01010101, which reads as a start sequence');
  }
  const parts: Buffer[] = [START];
  let pos = 0;
  for (let at = messages.indexOf(ESCAPE); at >= 0; at = messages.indexOf(ESCAPE, pos)) {
    parts.push(messages.subarray(pos, at + 4), ESCAPE);
    pos = at + 4;
  }
  parts.push(messages.subarray(pos));
  const padding = (4 - (messages.length % 4)) % 4;
  parts.push(Buffer.alloc(padding), ESCAPE, Buffer.from([END_MARK, padding, 0, 0]));
  const file = Buffer.concat(parts);
  file.writeUInt16LE(crc16X25(file, 0, file.length - 2), file.length - 2);
  return file;
}
