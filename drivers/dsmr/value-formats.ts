/**
 * The digits a meter of each DSMR version writes a value with, so an emulated meter looks like a real one: the
 * Fn(x,y) formats of the telegram tables (P1 5.0.2 §6.12, P1 4.2.2 §5.12, P1 3.0 §5.11) with x the decimals and
 * n − x the integer digits, and, where a table leaves the width open (F8(0,3) "variable"), the captures in
 * test/fixtures/dsmr (DSMR 2.2 and the Belgian e-MUCS variant have no spec here).
 */
import type { DsmrVersion } from './dsmr-version.ts';
import type { ObisCode } from '../common/obis.ts';

export interface DigitFormat {
  /** Integer digits, zero-padded; a minimum (a larger value is written in full, not rolled over). */
  integers: number;
  decimals: number;
}

const f = (integers: number, decimals: number): DigitFormat => ({ integers, decimals });

/** DSMR 4.0–5.0: kWh F9(3,3), kW F5(3,3), V F4(1,1), A F3(0,0), gas m3 F8(3,3) (P1 5.0.2 §6.12). */
const DSMR4: Readonly<Record<string, DigitFormat>> = {
  kWh: f(6, 3),
  kvarh: f(6, 3),
  kW: f(2, 3),
  kvar: f(2, 3),
  V: f(3, 1),
  A: f(3, 0),
  m3: f(5, 3),
  // Sagemcom T210-D-r: whole Wh and W in 9 digits.
  Wh: f(9, 0),
  W: f(9, 0),
  varh: f(9, 0),
  var: f(9, 0),
};

const BY_UNIT: Readonly<Record<DsmrVersion, Readonly<Record<string, DigitFormat>>>> = {
  // TELEGRAM_V2_2: "00001.001*kWh", "0001.01*kW", "0999.00*kW".
  '2.2': { kWh: f(5, 3), kW: f(4, 2), m3: f(5, 3) },
  // P1 3.0 §5.11: kWh F8(0,3), kW F6(0,2) in 10 W resolution, threshold I3 A; TELEGRAM_V3 "12345.678", "001.19".
  '3.0': { kWh: f(5, 3), kW: f(3, 2), A: f(3, 0), m3: f(5, 3) },
  '4.0': DSMR4,
  '4.2': DSMR4,
  '5.0': DSMR4,
  // TELEGRAM_FLUVIUS_V171: as DSMR 5 but currents "000.27*A".
  '5.0.2-be': { ...DSMR4, A: f(3, 2) },
};

/** Unitless integers by C.D.E: tariff indicator S4, event counters F5(0,0), M-Bus device type F3(0,0). */
const UNITLESS: Readonly<Record<string, DigitFormat>> = {
  '96.14.0': f(4, 0),
  '96.7.21': f(5, 0),
  '96.7.9': f(5, 0),
  '32.32.0': f(5, 0),
  '52.32.0': f(5, 0),
  '72.32.0': f(5, 0),
  '32.36.0': f(5, 0),
  '52.36.0': f(5, 0),
  '72.36.0': f(5, 0),
  '24.1.0': f(3, 0),
};

/** The format of a value, or undefined when neither table knows it (then it is written as short as it can be). */
export function digitFormat(
  version: DsmrVersion,
  code: ObisCode,
  unit: string | undefined,
): DigitFormat | undefined {
  if (unit !== undefined) return BY_UNIT[version][unit];
  return UNITLESS[`${code.c}.${code.d}.${code.e}`];
}

/** `value` in `format`, e.g. 4.426 → "000004.426" for kWh in DSMR 5. */
export function formatNumber(value: number, format: DigitFormat | undefined): string {
  const abs = Math.abs(value);
  const text = format ? abs.toFixed(format.decimals) : String(Number(abs.toFixed(3)));
  const [integers = '', decimals] = text.split('.');
  const padded =
    integers.padStart(format?.integers ?? 1, '0') + (decimals === undefined ? '' : `.${decimals}`);
  return value < 0 ? `-${padded}` : padded;
}
