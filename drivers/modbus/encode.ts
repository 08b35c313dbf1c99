/**
 * The inverse of decode.ts, for the meter emulator (register-server.ts): values → registers in the map's types,
 * scales and word/byte orders. Floats may be NaN or infinite (to emulate a faulty meter); an integer type throws
 * FRAME_MALFORMED for a value it cannot hold.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { decimalDivisor } from './decode.ts';
import type { MapRegister, RegisterMap } from './register-map.ts';
import { fromBigEndian } from './word-order.ts';

/** The current value of a quantity by OBIS code; undefined: the register reads 0. */
export type ValuesProvider = (obis: string) => number | undefined;

const INT_LIMITS = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
} as const;

/** The registers of one value, in the order they are sent. */
export function encodeValue(reg: MapRegister, value: number): number[] {
  const raw = unscale(value, reg.scale);
  const view = new DataView(new ArrayBuffer(reg.words * 2));
  switch (reg.type) {
    case 'float32':
      view.setFloat32(0, raw);
      break;
    case 'float64':
      view.setFloat64(0, raw);
      break;
    case 'int64':
    case 'uint64': {
      const int = integer(reg, raw);
      const big = BigInt(int);
      const fits = reg.type === 'int64' ? BigInt.asIntN(64, big) === big : BigInt.asUintN(64, big) === big;
      if (!fits) throw notRepresentable(reg);
      if (reg.type === 'int64') view.setBigInt64(0, big);
      else view.setBigUint64(0, big);
      break;
    }
    default: {
      const int = integer(reg, raw);
      const [lo, hi] = INT_LIMITS[reg.type];
      if (int < lo || int > hi) throw notRepresentable(reg);
      if (reg.words === 1) view.setUint16(0, int & 0xffff);
      else view.setUint32(0, int >>> 0);
    }
  }
  return fromBigEndian(view, reg.wordOrder, reg.byteOrder);
}

/** address → register for every mapped register the provider has a value for. */
export function encodeRegisters(map: RegisterMap, values: ValuesProvider): Map<number, number> {
  const image = new Map<number, number>();
  for (const reg of map.registers) {
    const value = values(reg.obis);
    if (value === undefined) continue;
    encodeValue(reg, value).forEach((word, i) => image.set(reg.address + i, word));
  }
  return image;
}

/** The raw number that decodes to `value` (decode.ts applyScale, inverted the same way). */
export function unscale(value: number, scale: number): number {
  if (scale === 1) return value;
  const divisor = decimalDivisor(scale);
  return divisor === undefined ? value / scale : value * divisor;
}

function integer(reg: MapRegister, raw: number): number {
  if (!Number.isFinite(raw)) throw notRepresentable(reg);
  return Math.round(raw);
}

function notRepresentable(reg: MapRegister): GatewayError {
  // The value itself stays out of the message (privacy invariant 1).
  return new GatewayError(
    'FRAME_MALFORMED',
    `${reg.obis}: value not representable as ${reg.type} × ${reg.scale}`,
  );
}
