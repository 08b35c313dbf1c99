/**
 * Searches bytes for any encoding of plaintext readings used anywhere in the system: the CSV's kWh text, the
 * packed Paillier plaintext (decimal, hex and big-endian bytes) and a JSON "wh" field. Returns what it found.
 */
import { toBytes } from '../../gateway/encrypt/bigint.ts';
import { pack, type PackingLayout } from '../../gateway/encrypt/packing.ts';
import type { Row } from './reference-sums.ts';

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
      if (text.length >= 5) needles.set(`kWh text ${text}`, Buffer.from(text));
    }
    const slots = [BigInt(r.wh), 0n, 0n];
    slots[isPeak(r.end - 30 * 60_000) ? 1 : 2] = BigInt(r.wh);
    const packed = pack(layout, slots);
    needles.set(`packed decimal ${r.household}@${r.end}`, Buffer.from(packed.toString(10)));
    needles.set(`packed hex ${r.household}@${r.end}`, Buffer.from(packed.toString(16)));
    needles.set(`packed bytes ${r.household}@${r.end}`, toBytes(packed));
  }
  return needles;
}

export function findNeedles(haystack: Buffer, needles: Map<string, Buffer>): string[] {
  const found: string[] = [];
  for (const [name, needle] of needles) if (haystack.includes(needle)) found.push(name);
  return found;
}
