import { describe, expect, it } from 'vitest';
import type { LineSettings } from '../../../drivers/serial/serial-link.ts';
import { DSMR_VERSIONS } from '../../../drivers/dsmr/dsmr-version.ts';
import { DSMR_LINE_SETTINGS, lineSettingsFor } from '../../../drivers/dsmr/line-settings.ts';

describe('DSMR line settings', () => {
  it('DSMR 2.2/3.0 talk 9600 7E1, 4.0 and later 115200 8N1', () => {
    for (const v of ['2.2', '3.0'] as const) {
      expect(lineSettingsFor(v)).toEqual({ baudRate: 9600, dataBits: 7, parity: 'even', stopBits: 1 });
    }
    for (const v of ['4.0', '4.2', '5.0', '5.0.2-be'] as const) {
      expect(lineSettingsFor(v)).toEqual({ baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 });
    }
  });

  it('every version has settings with a spec citation, usable as the serial link line', () => {
    for (const v of DSMR_VERSIONS) {
      expect(DSMR_LINE_SETTINGS[v].spec).toMatch(/§/);
      // Type check: the settings open a port through the serial link.
      const line: LineSettings = lineSettingsFor(v);
      expect(line.stopBits).toBe(1);
    }
  });
});
