/**
 * CRC-16/ARC, the checksum of a DSMR P1 telegram (P1 4.2.2 §5.2, P1 5.0.2 §6.2): polynomial x^16 + x^15 + x^2 + 1
 * (0x8005; 0xA001 bit-reversed), initial value 0, no XOR in or out, least significant bit first. It covers the
 * bytes from the leading '/' through the '!' inclusive. Check value: "123456789" → 0xBB3D.
 */

const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let crc = n;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[n] = crc;
  }
  return table;
}

/** CRC-16/ARC of `bytes[start, end)`. */
export function crc16Arc(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}
