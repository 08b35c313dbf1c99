/**
 * Units of SML_ListEntry.unit: SML uses the DLMS/COSEM unit enumeration (IEC 62056-62, DLMS Blue Book
 * "Physical units"), as BSI TR-03109-1 Anlage IV ("SML – Smart Message Language" 1.04, SML_Unit) refers to it.
 * Written as MeterFrame spells units ("Wh", "m3"); 255 means "count, no unit"; codes outside the table are kept
 * as "dlms:<code>" so a value never silently looks unit-less.
 */

const UNITS: ReadonlyMap<number, string> = new Map([
  [1, 'a'],
  [2, 'mo'],
  [3, 'wk'],
  [4, 'd'],
  [5, 'h'],
  [6, 'min'],
  [7, 's'],
  [8, '°'],
  [9, '°C'],
  [10, 'currency'],
  [11, 'm'],
  [12, 'm/s'],
  [13, 'm3'],
  [14, 'm3'], // corrected volume
  [15, 'm3/h'],
  [16, 'm3/h'], // corrected flow
  [17, 'm3/d'],
  [18, 'm3/d'],
  [19, 'l'],
  [20, 'kg'],
  [21, 'N'],
  [22, 'Nm'],
  [23, 'Pa'],
  [24, 'bar'],
  [25, 'J'],
  [26, 'J/h'],
  [27, 'W'],
  [28, 'VA'],
  [29, 'var'],
  [30, 'Wh'],
  [31, 'VAh'],
  [32, 'varh'],
  [33, 'A'],
  [34, 'C'],
  [35, 'V'],
  [36, 'V/m'],
  [37, 'F'],
  [38, 'Ω'],
  [40, 'Wb'],
  [41, 'T'],
  [42, 'A/m'],
  [43, 'H'],
  [44, 'Hz'],
  [50, 'kg/s'],
  [51, 'S'],
  [52, 'K'],
  [56, '%'],
  [57, 'Ah'],
]);

/** DLMS code meaning "count": a number without unit. */
const COUNT = 255;

/** The unit for a DLMS unit code; undefined for "count". */
export function unitName(code: number): string | undefined {
  if (code === COUNT) return undefined;
  return UNITS.get(code) ?? `dlms:${code}`;
}

/** The DLMS code for a unit name (the first code where two share a name); undefined when unknown. */
export function unitCode(name: string): number | undefined {
  for (const [code, unit] of UNITS) if (unit === name) return code;
  const match = /^dlms:(\d{1,3})$/.exec(name);
  const code = match ? Number(match[1]) : NaN;
  return code >= 0 && code <= 255 ? code : undefined;
}
