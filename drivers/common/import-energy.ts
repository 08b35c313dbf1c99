/**
 * The one quantity the gateway encrypts: active energy imported from the grid, cumulative, in Wh. Meters report
 * it as a total (OBIS 1-0:1.8.0) and/or per tariff register of their own (1-0:1.8.1, 1-0:1.8.2, ...: the DSMR
 * low/normal tariffs). The gateway's own tariff bands (billing.bands) replace the meter's registers, so only
 * their sum matters. A meter config may name the registers explicitly (`registers`).
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { MeterFrame, ObisValue } from './meter-frame.ts';

const TOTAL = '1-0:1.8.0';
const TARIFF = /^1-0:1\.8\.[1-9]$/;

const WH_PER_UNIT: Record<string, number> = { wh: 1, kwh: 1000, mwh: 1_000_000 };

/** A register's value in Wh; throws FRAME_MALFORMED when its unit is not an energy unit. */
export function toWh(v: ObisValue): number {
  const factor = v.unit === undefined ? undefined : WH_PER_UNIT[v.unit.toLowerCase()];
  if (factor === undefined || !Number.isFinite(v.value)) {
    throw new GatewayError('FRAME_MALFORMED', `${v.obis} is not an energy value (unit ${v.unit ?? 'none'})`);
  }
  return v.value * factor;
}

/**
 * The cumulative import energy of a frame in Wh, or undefined when the frame carries none of the registers
 * (a frame of another kind, e.g. an SML frame with only the power). With `registers`, exactly those are summed
 * and every one must be present.
 */
export function importEnergyWh(frame: MeterFrame, registers?: readonly string[]): number | undefined {
  const byObis = new Map(frame.values.map((v) => [v.obis, v]));
  if (registers && registers.length > 0) {
    const found = registers.map((r) => byObis.get(r));
    if (found.every((v) => v === undefined)) return undefined;
    const missing = registers.filter((_, i) => found[i] === undefined);
    if (missing.length > 0) {
      throw new GatewayError(
        'FRAME_MALFORMED',
        `frame lacks the configured register(s) ${missing.join(', ')}`,
      );
    }
    return found.reduce((sum, v) => sum + toWh(v!), 0);
  }
  const total = byObis.get(TOTAL);
  if (total) return toWh(total);
  const tariffs = frame.values.filter((v) => TARIFF.test(v.obis));
  if (tariffs.length === 0) return undefined;
  return tariffs.reduce((sum, v) => sum + toWh(v), 0);
}
