/** `--line 115200:7E1`: a baud rate and a character format, as technicians write them. */
import type { LineSettings } from '../../../drivers/serial/serial-link.ts';

const PARITY = { N: 'none', E: 'even', O: 'odd' } as const;

/** Parses "BAUD:7E1"-style settings; undefined when the text is not of that form. */
export function parseLineSpec(spec: string): LineSettings | undefined {
  const m = /^(\d+):([78])([NEO])([12])$/i.exec(spec.trim());
  if (!m) return undefined;
  const baudRate = Number(m[1]);
  if (!(baudRate >= 300 && baudRate <= 921_600)) return undefined;
  return {
    baudRate,
    dataBits: Number(m[2]) as 7 | 8,
    parity: PARITY[m[3]!.toUpperCase() as keyof typeof PARITY],
    stopBits: Number(m[4]) as 1 | 2,
  };
}
