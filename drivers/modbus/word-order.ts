/**
 * Between the registers of one value as they travel (Modbus sends each 16-bit register high byte first, Modbus
 * Application Protocol v1.1b3 §4.2) and its bytes most significant first, for the meters that swap words ("CDAB",
 * low word first, e.g. Carlo Gavazzi) or bytes inside a word ("BADC").
 */
export type Order = 'high-first' | 'low-first';

/** The bytes of a value, most significant first, from its registers as received. */
export function toBigEndian(words: readonly number[], wordOrder: Order, byteOrder: Order): DataView {
  const view = new DataView(new ArrayBuffer(words.length * 2));
  const n = words.length;
  for (let i = 0; i < n; i++) {
    const word = words[wordOrder === 'high-first' ? i : n - 1 - i]!;
    view.setUint16(i * 2, byteOrder === 'high-first' ? word : swapBytes(word));
  }
  return view;
}

/** The registers to send for a value whose bytes, most significant first, are in `view`. */
export function fromBigEndian(view: DataView, wordOrder: Order, byteOrder: Order): number[] {
  const n = view.byteLength / 2;
  const words = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const word = view.getUint16(i * 2);
    words[wordOrder === 'high-first' ? i : n - 1 - i] = byteOrder === 'high-first' ? word : swapBytes(word);
  }
  return words;
}

/** Registers from the data bytes of a read response (two bytes per register, high byte first). */
export function wordsFromBytes(bytes: Uint8Array): number[] {
  const words = new Array<number>(bytes.length >> 1);
  for (let i = 0; i < words.length; i++) words[i] = (bytes[2 * i]! << 8) | bytes[2 * i + 1]!;
  return words;
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | (word >> 8);
}
