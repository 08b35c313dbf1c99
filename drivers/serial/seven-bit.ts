/**
 * 7-bit characters (7E1, 7O1) as bytes. A UART set to 7 data bits delivers the 7 bits and checks the parity
 * itself; a pseudo-terminal, which has no UART, carries whole bytes, and an 8N1 reader on a 7E1 line sees the
 * parity bit as the 8th data bit. So the serial link keeps only the low 7 bits of what a 7-bit port reads (a
 * no-op on a real UART), and writes each character with its parity in bit 7 (ignored by a real UART, which
 * computes its own): on a pty pair this is exactly what the wire of a 7E1 line carries, so emulators and
 * line-setting detection behave there as they do on a real line.
 */

/** The low 7 bits of each byte. */
export function sevenBitChars(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! & 0x7f;
  return out;
}

/** Each 7-bit character with its parity bit in bit 7: even parity by default (IEC 62056-21, DSMR 7E1). */
export function withParityBit(chars: Buffer, parity: 'even' | 'odd' = 'even'): Buffer {
  const out = Buffer.allocUnsafe(chars.length);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]! & 0x7f;
    let ones = c;
    ones ^= ones >> 4;
    ones ^= ones >> 2;
    ones ^= ones >> 1;
    const odd = (ones & 1) === 1;
    out[i] = c | ((parity === 'even' ? odd : !odd) ? 0x80 : 0);
  }
  return out;
}
