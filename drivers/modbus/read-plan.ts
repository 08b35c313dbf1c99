/**
 * Read planning: the registers of a map grouped into as few contiguous reads as possible. A read may span at most
 * `maxWords` registers (Modbus Application Protocol v1.1b3 §6.3/§6.4: 125 for FC03/FC04; some meters answer
 * fewer, e.g. the SDM630's 80) and may include up to `maxGap` unmapped registers between two mapped ones. Reading
 * unmapped registers is a bet on the meter (many answer them with 0, some raise exception 02), so the gap is the
 * map's (`maxGap`, default 0) unless the poller configuration overrides it.
 *
 * Registers are sorted by address and a read always covers a contiguous range, so the blocks of any plan are runs
 * of consecutive registers; growing each block as far as the limits allow (greedy) therefore gives the fewest
 * blocks.
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { MapRegister, RegisterMap } from './register-map.ts';

export const MODBUS_MAX_READ_WORDS = 125;

export interface PlanOptions {
  /** Most registers per read; default the map's `maxReadWords` (at most 125). */
  maxWords?: number;
  /** Most unmapped registers a read may span; default the map's `maxGap`. */
  maxGap?: number;
}

export interface ReadBlock {
  /** First register address of the read. */
  address: number;
  /** Registers read. */
  length: number;
  /** The mapped registers inside, by address. */
  registers: readonly MapRegister[];
}

export interface ReadPlan {
  functionCode: 3 | 4;
  blocks: readonly ReadBlock[];
}

export function planReads(map: RegisterMap, opts: PlanOptions = {}): ReadPlan {
  const maxWords = opts.maxWords ?? map.maxReadWords;
  const maxGap = opts.maxGap ?? map.maxGap;
  if (!Number.isInteger(maxWords) || maxWords < 1 || maxWords > MODBUS_MAX_READ_WORDS) {
    throw new GatewayError('CONFIG_INVALID', `maxWords must be an integer 1..${MODBUS_MAX_READ_WORDS}`);
  }
  if (!Number.isInteger(maxGap) || maxGap < 0) {
    throw new GatewayError('CONFIG_INVALID', 'maxGap must be a non-negative integer');
  }
  const sorted = [...map.registers].sort((a, b) => a.address - b.address);
  const blocks: { address: number; end: number; registers: MapRegister[] }[] = [];
  for (const r of sorted) {
    if (r.words > maxWords) {
      throw new GatewayError(
        'CONFIG_INVALID',
        `${map.model}: ${r.obis} is ${r.words} registers, more than maxWords ${maxWords}`,
      );
    }
    const last = blocks.at(-1);
    const end = r.address + r.words;
    if (last && r.address - last.end <= maxGap && end - last.address <= maxWords) {
      last.end = Math.max(last.end, end);
      last.registers.push(r);
    } else {
      blocks.push({ address: r.address, end, registers: [r] });
    }
  }
  return {
    functionCode: map.functionCode,
    blocks: blocks.map((b) => ({ address: b.address, length: b.end - b.address, registers: b.registers })),
  };
}
