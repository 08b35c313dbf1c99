/**
 * The Modbus parser on register words computed by hand (IEEE 754 for the SDM630's floats, two's complement with
 * the low word first for the EM24), per-register rejection, and fuzzing: random words never make it throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { applyScale, decodeRegisters, decodeValue } from '../../../drivers/modbus/decode.ts';
import { builtInModels, loadRegisterMap, type RegisterMap } from '../../../drivers/modbus/register-map.ts';
import { wordsFromBytes } from '../../../drivers/modbus/word-order.ts';
import { inlineMap } from './helpers.ts';

const sdm630 = loadRegisterMap('eastron-sdm630');
const em24 = loadRegisterMap('carlo-gavazzi-em24');
const reg = (map: RegisterMap, obis: string) => map.registers.find((r) => r.obis === obis)!;

describe('decode: SDM630 float32, high word first', () => {
  // 230.5 = 1.80078125 × 2^7: sign 0, exponent 127+7 = 0x86, mantissa 0.80078125 × 2^23 = 0x668000
  //   → 0 10000110 11001101000000000000000 = 0x43668000.
  // 1234.5 = 10011010010.1b = 1.00110100101b × 2^10: exponent 0x89, mantissa 00110100101 0…
  //   → 0 10001001 00110100101000000000000 = 0x449A5000.
  // 50 = 1.5625 × 2^5 → 0x42480000; -0.5 = -1 × 2^-1 → 0xBF000000.
  it('gives the exact values of hand-computed words', () => {
    const { frame, rejected } = decodeRegisters(sdm630, [
      { address: 0, words: [0x4366, 0x8000] }, // VoltageL1
      { address: 0x1e, words: [0xbf00, 0x0000] }, // CosphiL1
      { address: 0x46, words: [0x4248, 0x0000, 0x449a, 0x5000] }, // Frequency, Import
    ]);
    expect(frame.values).toEqual([
      { obis: '1-0:32.7.0', value: 230.5, unit: 'V' },
      { obis: '1-0:33.7.0', value: -0.5, unit: undefined },
      { obis: '1-0:14.7.0', value: 50, unit: 'Hz' },
      { obis: '1-0:1.8.0', value: 1234.5, unit: 'kWh' },
    ]);
    // Everything not read is listed as missing, nothing else is rejected.
    expect(rejected).toHaveLength(sdm630.registers.length - 4);
    expect(new Set(rejected.map((r) => r.reason))).toEqual(new Set(['missing']));
  });

  it('rejects NaN, infinities and implausible values per register, keeping the others', () => {
    const { frame, rejected } = decodeRegisters(sdm630, [
      // VoltageL1 NaN (0x7FC00000), L2 +Infinity (0x7F800000), L3 2000 V (0x44FA0000) > 1000,
      // CurrentL1 -Infinity (0xFF800000), CurrentL2 1.5 A (0x3FC00000).
      { address: 0, words: [0x7fc0, 0, 0x7f80, 0, 0x44fa, 0, 0xff80, 0, 0x3fc0, 0] },
    ]);
    expect(frame.values).toEqual([{ obis: '1-0:51.7.0', value: 1.5, unit: 'A' }]);
    expect(rejected.filter((r) => r.reason !== 'missing')).toEqual([
      { obis: '1-0:32.7.0', address: 0, reason: 'not-finite' },
      { obis: '1-0:52.7.0', address: 2, reason: 'not-finite' },
      { obis: '1-0:72.7.0', address: 4, reason: 'out-of-range' },
      { obis: '1-0:31.7.0', address: 6, reason: 'not-finite' },
    ]);
  });

  it('takes registers from the bytes of a response', () => {
    const words = wordsFromBytes(Uint8Array.from([0x44, 0x9a, 0x50, 0x00]));
    expect(words).toEqual([0x449a, 0x5000]);
    expect(decodeValue(reg(sdm630, '1-0:1.8.0'), words)).toEqual({ ok: true, value: 1234.5 });
  });
});

describe('decode: EM24 int32 low word first, scaled', () => {
  it('gives the exact decimal values', () => {
    // 230.1 V = 2301 tenths = 0x000008FD → [0x08FD, 0x0000]; 123456.7 kWh = 1234567 = 0x0012D687 → [0xD687, 0x0012];
    // -1500.5 W = -15005 = 0xFFFFC563 → [0xC563, 0xFFFF]; PF -0.95 = -950 = 0xFC4A (int16); 50.0 Hz = 500 = 0x01F4.
    const { frame } = decodeRegisters(em24, [
      { address: 0, words: [0x08fd, 0x0000] },
      { address: 0x42, words: [0xd687, 0x0012] },
      { address: 0x28, words: [0xc563, 0xffff] },
      { address: 0x35, words: [0xfc4a, 0x0000, 0x01f4] },
    ]);
    expect(frame.values).toEqual([
      { obis: '1-0:32.7.0', value: 230.1, unit: 'V' },
      { obis: '1-0:16.7.0', value: -1500.5, unit: 'W' },
      { obis: '1-0:13.7.0', value: -0.95, unit: undefined },
      { obis: '1-0:14.7.0', value: 50, unit: 'Hz' },
      { obis: '1-0:1.8.0', value: 123456.7, unit: 'kWh' },
    ]);
  });

  it('divides by the inverse of a decimal scale (2301 × 0.1 would be 230.10000000000002)', () => {
    expect(2301 * 0.1).not.toBe(230.1);
    expect(applyScale(2301, 0.1)).toBe(230.1);
    expect(applyScale(7, 0.001)).toBe(0.007);
    expect(applyScale(3, 2.5)).toBe(7.5);
  });
});

describe('decode: other types and orders', () => {
  const map = inlineMap({
    registers: [
      { obis: '1-0:1.8.0', address: 0, type: 'uint64', unit: 'Wh' },
      { obis: '1-0:2.8.0', address: 4, type: 'int64', wordOrder: 'low-first' },
      { obis: '1-0:32.7.0', address: 8, type: 'uint16', byteOrder: 'low-first', scale: 0.1 },
      { obis: '1-0:14.7.0', address: 9, type: 'float64' },
      { obis: '1-0:31.7.0', address: 13, type: 'uint32' },
      { obis: '1-0:16.7.0', address: 15, type: 'float32', wordOrder: 'low-first', byteOrder: 'low-first' },
    ],
  });

  it('decodes 64-bit integers, swapped bytes, float64, uint32 and a fully reversed float32', () => {
    const words = [
      ...[0x0000, 0x0001, 0x0000, 0x0002], // uint64 2^32 + 2
      ...[0xfffe, 0xffff, 0xffff, 0xffff], // int64 -2, low word first
      0x0909, // uint16 0x0909 = 2313 (byte-swapped: same) → 231.3
      ...[0x4049, 0x0000, 0x0000, 0x0000], // float64 50.0 = 0x4049000000000000
      ...[0xffff, 0xffff], // uint32 4294967295
      ...[0x0000, 0x8040], // float32 4.0 = 0x40800000, bytes reversed: 00 00 80 40
    ];
    const { frame, rejected } = decodeRegisters(map, [{ address: 0, words }]);
    expect(rejected).toEqual([]);
    expect(frame.values.map((v) => [v.obis, v.value])).toEqual([
      ['1-0:1.8.0', 2 ** 32 + 2],
      ['1-0:2.8.0', -2],
      ['1-0:32.7.0', 231.3],
      ['1-0:14.7.0', 50],
      ['1-0:31.7.0', 4294967295],
      ['1-0:16.7.0', 4],
    ]);
  });

  it('rejects a 64-bit integer beyond 2^53 and words that are not registers', () => {
    const words = [0x0020, 0, 0, 1, 0, 0, 0, 0, 0x1_0000, 0, 0, 0, 0, 1.5, 0, 0, 0];
    const { rejected } = decodeRegisters(map, [{ address: 0, words }]);
    expect(rejected.map((r) => [r.obis, r.reason])).toEqual([
      ['1-0:1.8.0', 'not-safe-integer'],
      ['1-0:32.7.0', 'not-a-register'],
      ['1-0:31.7.0', 'not-a-register'],
    ]);
  });
});

describe('decode fuzzing', () => {
  const maps = builtInModels().map((m) => loadRegisterMap(m));
  const word = fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(NaN, -1, 0x10000)) },
  );
  const block = fc.record({
    address: fc.integer({ min: 0, max: 400 }),
    words: fc.array(word, { maxLength: 130 }),
  });

  it('random words never throw: every register is a checked value or a rejection', () => {
    fc.assert(
      fc.property(fc.constantFrom(...maps), fc.array(block, { maxLength: 6 }), (map, blocks) => {
        const { frame, rejected } = decodeRegisters(map, blocks);
        expect(frame.values.length + rejected.length).toBe(map.registers.length);
        for (const v of frame.values) {
          const r = map.registers.find((x) => x.obis === v.obis)!;
          expect(Number.isFinite(v.value)).toBe(true);
          if (r.range) expect(v.value >= r.range[0] && v.value <= r.range[1]).toBe(true);
        }
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });

  it('random words at the right addresses decode or are rejected with a reason, never missing', () => {
    const plan = (map: RegisterMap) => ({
      address: 0,
      length: Math.max(...map.registers.map((r) => r.address + r.words)),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...maps),
        fc.infiniteStream(fc.integer({ min: 0, max: 0xffff })),
        (map, stream) => {
          const { length } = plan(map);
          const words = [...stream.take(length)];
          const { frame, rejected } = decodeRegisters(map, [{ address: 0, words }]);
          expect(rejected.every((r) => r.reason !== 'missing')).toBe(true);
          expect(frame.values.length + rejected.length).toBe(map.registers.length);
        },
      ),
      { numRuns: fuzzRuns(500) },
    );
  });
});
