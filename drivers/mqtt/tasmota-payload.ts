/**
 * Tasmota's telemetry JSON (`tele/<topic>/SENSOR`), as documented in Tasmota's "JSON Status Responses" and
 * "Smart Meter Interface" pages: a local wall-clock "Time" ("2018-02-10T22:46:34" or "2018.02.04 23:17:01") and
 * one object per sensor. Power plugs and the SML/OBIS meter scripts publish the cumulative import under
 * `ENERGY.Total` in kWh; meter scripts may name it differently (`SML.Total_in`), hence a configurable path.
 */
import { GatewayError } from '../../gateway/errors.ts';
import type { LocalTimestamp, MeterFrame } from '../common/meter-frame.ts';

export interface TasmotaOptions {
  /** Dot path of the cumulative import energy in the JSON, e.g. "ENERGY.Total". */
  energyPath: string;
  /** Unit of that value: Tasmota's ENERGY.Total is kWh. */
  unit: 'kWh' | 'Wh';
}

const TIME = /^(\d{4})[-.](\d{2})[-.](\d{2})[T ](\d{2}):(\d{2}):(\d{2})$/;

function localTime(text: unknown): LocalTimestamp | undefined {
  if (typeof text !== 'string') return undefined;
  const m = TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { year, month, day, hour, minute, second };
}

function at(json: unknown, dotPath: string): unknown {
  let node = json;
  for (const key of dotPath.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Parses one SENSOR payload; PAYLOAD_MALFORMED when it is not JSON or lacks a finite energy value. */
export function parseTasmotaPayload(payload: Buffer, opts: TasmotaOptions): MeterFrame {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new GatewayError('PAYLOAD_MALFORMED', 'payload is not JSON');
  }
  const value = at(json, opts.energyPath);
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
    throw new GatewayError('PAYLOAD_MALFORMED', `no non-negative number at ${opts.energyPath}`);
  }
  const local = localTime(at(json, 'Time'));
  return {
    ...(local ? { time: { kind: 'local' as const, local } } : {}),
    values: [{ obis: '1-0:1.8.0', value: number, unit: opts.unit }],
  };
}
