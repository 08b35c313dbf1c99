/**
 * Searches bytes for any encoding of plaintext readings used anywhere in the system: the CSV's kWh text, the
 * packed Paillier plaintext (decimal, hex and big-endian bytes) and a JSON "wh" field. Returns what it found.
 */
import { toBytes } from '../../gateway/encrypt/bigint.ts';
import { pack, type PackingLayout } from '../../gateway/encrypt/packing.ts';
import type { Row } from './reference-sums.ts';

const KWH_TEXT = 'kWh text ';

export function plaintextNeedles(
  rows: Row[],
  layout: PackingLayout,
  isPeak: (start: number) => boolean,
): Map<string, Buffer> {
  const needles = new Map<string, Buffer>();
  needles.set('json "wh" field', Buffer.from('"wh":'));
  for (const r of rows) {
    if (r.wh < 10) continue; // "0.00x" and one-byte values are too short to be told from noise
    // Both as written in the CSV and with three decimals; shorter forms ("0.1") are too common to search for.
    for (const text of [r.kwhText, (r.wh / 1000).toFixed(3)]) {
      if (text.length >= 5) needles.set(`${KWH_TEXT}${text}`, Buffer.from(text));
    }
    const slots = [BigInt(r.wh), 0n, 0n];
    slots[isPeak(r.end - 30 * 60_000) ? 1 : 2] = BigInt(r.wh);
    // The gateway encrypts this plus the clipped Wh in the release field far above the slots: the slots' hex and
    // bytes are a suffix of that whole plaintext's, so these needles find it too (only its decimal form escapes).
    const packed = pack(layout, slots);
    // A needle must be specific enough not to turn up by chance in megabytes of ciphertext hex, SQLite pages and
    // timestamps: a small reading packs into something like 0x300000000c, whose bytes (03 00 00 00 0c) are the
    // kind of run SQLite's own page structure is full of. Such short encodings are left to the other needles.
    const decimal = packed.toString(10);
    const hex = packed.toString(16);
    const bytes = toBytes(packed);
    const where = `${r.household}@${r.end}`;
    if (decimal.length >= 10) needles.set(`packed decimal ${where}`, Buffer.from(decimal));
    if (hex.length >= 10) needles.set(`packed hex ${where}`, Buffer.from(hex));
    if (bytes.length >= 6 && bytes.filter((b) => b !== 0).length >= 3)
      needles.set(`packed bytes ${where}`, bytes);
  }
  return needles;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/**
 * Whether `needle` occurs in `haystack` as a number of its own: no digit right before or after it. A kWh text
 * such as "0.085" is otherwise found in any wall-clock timestamp whose seconds end in 0 and whose milliseconds are
 * 085 ("…:50.085Z"), which consent-log lines and health reports hold; a leaked reading reads as a number.
 */
function includesNumber(haystack: Buffer, needle: Buffer): boolean {
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    if (!isDigit(haystack[at - 1]) && !isDigit(haystack[at + needle.length])) return true;
  }
  return false;
}

export function findNeedles(haystack: Buffer, needles: Map<string, Buffer>): string[] {
  const found: string[] = [];
  for (const [name, needle] of needles) {
    const hit = name.startsWith(KWH_TEXT) ? includesNumber(haystack, needle) : haystack.includes(needle);
    if (hit) found.push(name);
  }
  return found;
}
