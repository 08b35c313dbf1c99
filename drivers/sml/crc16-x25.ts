/**
 * CRC-16/X-25 as SML uses it (BSI TR-03109-1 Anlage IV, "SML – Smart Message Language" 1.04, the CRC16 of
 * transport and messages): polynomial x^16 + x^12 + x^5 + 1 (0x1021, processed reflected as 0x8408), initial
 * value 0xFFFF, final XOR 0xFFFF; check value over "123456789" is 0x906E.
 *
 * Byte order on the wire (read from the captured eHZ streams, both places): the low byte is sent first. The
 * transport trailer `1a pp c0 c1` carries it little-endian; a message's `crc16` field is an Unsigned16 TLV whose
 * two value bytes are likewise low byte first, so its big-endian integer value is the byte-swapped CRC.
 */

const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x8408 : c >>> 1;
    table[n] = c;
  }
  return table;
}

/** CRC-16/X-25 of `data[start, end)`. */
export function crc16X25(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ data[i]!) & 0xff]!;
  return (crc ^ 0xffff) & 0xffff;
}

/** The CRC as a message's `crc16` field holds it: its wire bytes are low byte first (see above). */
export function swapBytes16(value: number): number {
  return ((value & 0xff) << 8) | ((value >>> 8) & 0xff);
}
