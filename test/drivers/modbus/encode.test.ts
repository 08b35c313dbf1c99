/**
 * The emulator's encoder: hand-checked words, and encode → decode giving back exactly the values for every
 * built-in map (and a map of every type and order), on random values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyScale, decodeRegisters } from '../../../drivers/modbus/decode.ts';
import { encodeRegisters, encodeValue } from '../../../drivers/modbus/encode.ts';
import {
  builtInModels,
  loadRegisterMap,
  type MapRegister,
  type RegisterMap,
} from '../../../drivers/modbus/register-map.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { inlineMap } from './helpers.ts';

const LIMITS: Record<MapRegister['type'], [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  float32: [-3e38, 3e38],
  float64: [-1e300, 1e300],
};

/** A value the register can carry exactly and decode accepts. */
function valueFor(r: MapRegister): fc.Arbitrary<number> {
  const [lo, hi] = r.range ?? [-Infinity, Infinity];
  const [tlo, thi] = LIMITS[r.type];
  if (r.type === 'float32' || r.type === 'float64') {
    const f = r.type === 'float32' ? Math.fround : (x: number) => x;
    return fc
      .double({ min: Math.max(lo, tlo), max: Math.min(hi, thi), noNaN: true })
      .map((x) => applyScale(f(x), r.scale))
      .filter((v) => v >= lo && v <= hi);
  }
  // A scaled 64-bit raw number near 2^53 does not survive raw / 100 * 100; meters count far below that.
  const big = r.words === 4 && r.scale !== 1 ? 2 ** 50 : Infinity;
  const rawLo = Math.max(tlo, -big, Math.ceil(lo / r.scale));
  const rawHi = Math.min(thi, big, Math.floor(hi / r.scale));
  return fc.integer({ min: rawLo, max: rawHi }).map((raw) => applyScale(raw, r.scale));
}

function roundTrip(map: RegisterMap, numRuns: number): void {
  const values = fc.record(Object.fromEntries(map.registers.map((r) => [r.obis, valueFor(r)])));
  fc.assert(
    fc.property(values, (v) => {
      const image = encodeRegisters(map, (obis) => v[obis]);
      const end = Math.max(...map.registers.map((r) => r.address + r.words));
      const words = Array.from({ length: end }, (_, a) => image.get(a) ?? 0);
      const { frame, rejected } = decodeRegisters(map, [{ address: 0, words }]);
      expect(rejected).toEqual([]);
      expect(Object.fromEntries(frame.values.map((x) => [x.obis, x.value]))).toEqual(v);
    }),
    { numRuns },
  );
}

describe('encode', () => {
  it('gives the hand-computed words (EM24 int32 low word first, SDM630 float32)', () => {
    const em24 = loadRegisterMap('carlo-gavazzi-em24');
    const sdm630 = loadRegisterMap('eastron-sdm630');
    const r = (map: RegisterMap, obis: string) => map.registers.find((x) => x.obis === obis)!;
    expect(encodeValue(r(em24, '1-0:32.7.0'), 230.1)).toEqual([0x08fd, 0x0000]);
    expect(encodeValue(r(em24, '1-0:16.7.0'), -1500.5)).toEqual([0xc563, 0xffff]);
    expect(encodeValue(r(em24, '1-0:13.7.0'), -0.95)).toEqual([0xfc4a]);
    expect(encodeValue(r(sdm630, '1-0:1.8.0'), 1234.5)).toEqual([0x449a, 0x5000]);
    expect(encodeValue(r(sdm630, '1-0:32.7.0'), NaN)).toEqual([0x7fc0, 0x0000]);
  });

  it('leaves out registers the provider has no value for', () => {
    const map = loadRegisterMap('eastron-sdm120');
    const image = encodeRegisters(map, (obis) => (obis === '1-0:1.8.0' ? 1 : undefined));
    expect([...image.entries()]).toEqual([
      [0x48, 0x3f80],
      [0x49, 0x0000],
    ]);
  });

  it('refuses a value an integer type cannot hold', () => {
    const map = inlineMap({ registers: [{ obis: '1-0:13.7.0', address: 0, type: 'int16', scale: 0.001 }] });
    const reg = map.registers[0]!;
    expect(encodeValue(reg, 32.767)).toEqual([0x7fff]);
    expectCode('FRAME_MALFORMED', () => encodeValue(reg, 32.768));
    expectCode('FRAME_MALFORMED', () => encodeValue(reg, NaN));
    const u64 = inlineMap({ registers: [{ obis: '1-0:1.8.0', address: 0, type: 'uint64' }] }).registers[0]!;
    expectCode('FRAME_MALFORMED', () => encodeValue(u64, -1));
  });

  for (const model of builtInModels()) {
    it(`encode → decode gives back every value: ${model}`, () => roundTrip(loadRegisterMap(model), 300));
  }

  it('encode → decode gives back every value: all types, scales and orders', () => {
    const types = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'int64', 'uint64', 'float64'] as const;
    const orders = ['high-first', 'low-first'] as const;
    const registers: Record<string, unknown>[] = [];
    let address = 0;
    for (const type of types) {
      for (const wordOrder of orders) {
        for (const byteOrder of orders) {
          const scale: number = type.startsWith('float') ? 1 : [1, 0.1, 0.01][registers.length % 3]!;
          registers.push({ obis: `1-0:${registers.length}.7.0`, address, type, wordOrder, byteOrder, scale });
          address += {
            int16: 1,
            uint16: 1,
            int32: 2,
            uint32: 2,
            float32: 2,
            int64: 4,
            uint64: 4,
            float64: 4,
          }[type];
        }
      }
    }
    roundTrip(inlineMap({ registers }), 300);
  });
});
