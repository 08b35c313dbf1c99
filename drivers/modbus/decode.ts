/**
 * The Modbus protocol parser (STYLE.md §3): pure, from the registers of the planned reads to a MeterFrame. A value
 * that cannot be trusted (a NaN or infinite float, an integer beyond 2^53, a value outside the map's plausible
 * range, a register the reads did not return) is rejected on its own and listed; the other values of the frame
 * stand. Never throws.
 */
import type { MeterFrame, ObisValue } from '../common/meter-frame.ts';
import type { MapRegister, RegisterMap } from './register-map.ts';
import { toBigEndian } from './word-order.ts';

/** The registers returned by one read. */
export interface BlockWords {
  address: number;
  words: readonly number[];
}

export type RejectReason =
  /** No read returned the register. */
  | 'missing'
  /** A "register" that is not an integer 0..0xFFFF. */
  | 'not-a-register'
  /** NaN or ±Infinity (a float, or a float64 after scaling). */
  | 'not-finite'
  /** A 64-bit integer that a number cannot hold exactly. */
  | 'not-safe-integer'
  /** Outside the register's plausible range. */
  | 'out-of-range';

export interface RejectedRegister {
  obis: string;
  address: number;
  reason: RejectReason;
}

export interface DecodedFrame {
  frame: MeterFrame;
  rejected: RejectedRegister[];
}

export type DecodedValue = { ok: true; value: number } | { ok: false; reason: RejectReason };

export function decodeRegisters(map: RegisterMap, blocks: readonly BlockWords[]): DecodedFrame {
  const values: ObisValue[] = [];
  const rejected: RejectedRegister[] = [];
  for (const reg of map.registers) {
    const words = registerWords(reg, blocks);
    const decoded: DecodedValue = words ? decodeValue(reg, words) : { ok: false, reason: 'missing' };
    if (decoded.ok) values.push({ obis: reg.obis, value: decoded.value, unit: reg.unit });
    else rejected.push({ obis: reg.obis, address: reg.address, reason: decoded.reason });
  }
  return { frame: { values }, rejected };
}

/** One register's value, scaled and checked, from its registers as received. */
export function decodeValue(reg: MapRegister, words: readonly number[]): DecodedValue {
  if (words.length !== reg.words || !words.every(isRegister)) return { ok: false, reason: 'not-a-register' };
  const view = toBigEndian(words, reg.wordOrder, reg.byteOrder);
  let raw: number;
  switch (reg.type) {
    case 'int16':
      raw = view.getInt16(0);
      break;
    case 'uint16':
      raw = view.getUint16(0);
      break;
    case 'int32':
      raw = view.getInt32(0);
      break;
    case 'uint32':
      raw = view.getUint32(0);
      break;
    case 'float32':
      raw = view.getFloat32(0);
      break;
    case 'float64':
      raw = view.getFloat64(0);
      break;
    case 'int64':
    case 'uint64': {
      const big = reg.type === 'int64' ? view.getBigInt64(0) : view.getBigUint64(0);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
        return { ok: false, reason: 'not-safe-integer' };
      }
      raw = Number(big);
      break;
    }
  }
  const value = applyScale(raw, reg.scale);
  if (!Number.isFinite(value)) return { ok: false, reason: 'not-finite' };
  if (reg.range && (value < reg.range[0] || value > reg.range[1]))
    return { ok: false, reason: 'out-of-range' };
  return { ok: true, value };
}

/**
 * raw × scale. A decimal scale (0.1, 0.001) divides by its inverse instead: 2301 / 10 is the double nearest 230.1,
 * 2301 × 0.1 is 230.10000000000002.
 */
export function applyScale(raw: number, scale: number): number {
  if (scale === 1) return raw;
  const divisor = decimalDivisor(scale);
  return divisor === undefined ? raw * scale : raw / divisor;
}

/** 10 for 0.1, 1000 for 0.001; undefined when 1/scale is not an integer. */
export function decimalDivisor(scale: number): number | undefined {
  const inverse = 1 / scale;
  const divisor = Math.round(inverse);
  return divisor > 1 && Math.abs(inverse - divisor) < 1e-9 * divisor ? divisor : undefined;
}

function registerWords(reg: MapRegister, blocks: readonly BlockWords[]): readonly number[] | undefined {
  for (const b of blocks) {
    const offset = reg.address - b.address;
    if (offset >= 0 && offset + reg.words <= b.words.length) return b.words.slice(offset, offset + reg.words);
  }
  return undefined;
}

function isRegister(w: number): boolean {
  return Number.isInteger(w) && w >= 0 && w <= 0xffff;
}
