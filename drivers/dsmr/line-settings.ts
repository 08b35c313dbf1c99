/**
 * Serial line settings of the P1 port per DSMR version, as data. They fit `serialport`'s open options and the
 * serial link's `LineSettings` (`drivers/serial/serial-link.ts`).
 *
 * Hardware, for every version: the P1 "Data" line is an open-collector opto-coupler output and logically
 * inverted (P1 5.0.2 §5.7.2, P1 4.2.2 §4.6), so the USB adapter must invert RX (P1 cables do); the meter only
 * sends while "Data Request" (RJ12 pin 2) is held at +5 V (P1 5.0.2 §5.7.1, P1 4.2.2 §4.3).
 */
import type { DsmrVersion } from './dsmr-version.ts';

export interface P1LineSettings {
  baudRate: number;
  dataBits: 7 | 8;
  parity: 'none' | 'even';
  stopBits: 1;
}

export interface DsmrLineSettings extends P1LineSettings {
  /** Where the settings come from. */
  spec: string;
  /** Seconds between telegrams while Data Request is raised. */
  intervalSeconds: number;
}

/**
 * IEC 62056-21 character format, which DSMR 2.2/3.0 keep: P1 3.0 §5.1 fixes only the speed ("9600 bps") and
 * builds on IEC 62056-21 mode D, whose characters are 1 start bit, 7 data bits, even parity, 1 stop bit.
 */
const IEC_9600_7E1: P1LineSettings = { baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 1 };
/** "115200 baud … a start bit, 8 data bits, no parity bit and a stop bit (8N1)" (P1 4.2.2 §5.1, P1 5.0.2 §6.1). */
const P1_115200_8N1: P1LineSettings = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 };

/**
 * Where meters differ from this table: the version a meter speaks is only known from its telegrams
 * (1-3:0.2.8, or the header), and the version printed on a meter is not always what its P1 firmware speaks. A
 * technician who is not told should try 115200 8N1 first (DSMR 4.0 and later, and the Belgian, Luxembourg and
 * Hungarian variants, which follow DSMR 5), then 115200 7E1 (some DSMR 4 meters), then 9600 7E1; the port's
 * `line:` setting overrides this table (docs/drivers/serial.md), and `dsmrVersion: auto` tries them in that order
 * (`DSMR_AUTO_LINES`).
 */
export const DSMR_LINE_SETTINGS: Readonly<Record<DsmrVersion, Readonly<DsmrLineSettings>>> = {
  '2.2': {
    ...IEC_9600_7E1,
    spec: 'P1 3.0 §5.1 (2.2 is 3.0 without its fixes) + IEC 62056-21',
    intervalSeconds: 10,
  },
  '3.0': { ...IEC_9600_7E1, spec: 'P1 3.0 §5.1 + IEC 62056-21', intervalSeconds: 10 },
  '4.0': { ...P1_115200_8N1, spec: 'P1 4.0 §5.1', intervalSeconds: 10 },
  '4.2': { ...P1_115200_8N1, spec: 'P1 4.2.2 §5.1', intervalSeconds: 10 },
  '5.0': { ...P1_115200_8N1, spec: 'P1 5.0.2 §6.1', intervalSeconds: 1 },
  '5.0.2-be': { ...P1_115200_8N1, spec: 'Fluvius e-MUCS P1 (follows P1 5.0.2 §6.1)', intervalSeconds: 1 },
};

/** 115200 7E1: what some DSMR 4.x meters send (and what P1 4.0 drafts specified). */
const P1_115200_7E1: P1LineSettings = { baudRate: 115200, dataBits: 7, parity: 'even', stopBits: 1 };

/** The order in which `dsmrVersion: auto` tries line settings: the most common first. */
export const DSMR_AUTO_LINES: readonly P1LineSettings[] = [P1_115200_8N1, P1_115200_7E1, IEC_9600_7E1];

/** The line settings alone, ready to open a port with. */
export function lineSettingsFor(version: DsmrVersion): P1LineSettings {
  const { baudRate, dataBits, parity, stopBits } = DSMR_LINE_SETTINGS[version];
  return { baudRate, dataBits, parity, stopBits };
}
