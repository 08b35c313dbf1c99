/**
 * writeTelegram, the emulated meter's side: what it writes parses back to what it was given, and the lines it
 * writes look exactly like the same lines of a real meter of that version (compared with the captures).
 */
import { describe, expect, it } from 'vitest';
import type { LocalTimestamp, ObisValue } from '../../../drivers/common/meter-frame.ts';
import { DSMR_VERSIONS, hasCrc, type DsmrVersion } from '../../../drivers/dsmr/dsmr-version.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { writeTelegram, type DsmrTelegram } from '../../../drivers/dsmr/telegram-writer.ts';
import { capture, frame, type CaptureName } from './dsmr-fixtures.ts';

const at = (local: LocalTimestamp) => ({ kind: 'local' as const, local });
const NOW: LocalTimestamp = { year: 2024, month: 3, day: 31, hour: 3, minute: 0, second: 7, dst: true };
const GAS_TIME: LocalTimestamp = { year: 2024, month: 3, day: 31, hour: 2, minute: 0, second: 0, dst: false };

/** A household's registers as the emulator would present them. */
function household(version: DsmrVersion): ObisValue[] {
  const legacy = !hasCrc(version);
  // DSMR 2.2/3.0 timestamps carry no DST flag.
  const gasTimeWithoutDst: LocalTimestamp = { ...GAS_TIME, dst: undefined };
  return [
    { obis: '1-0:1.8.1', value: 1234.567, unit: 'kWh' },
    { obis: '1-0:1.8.2', value: 8.9, unit: 'kWh' },
    { obis: '1-0:2.8.1', value: 0, unit: 'kWh' },
    { obis: '1-0:2.8.2', value: 12.001, unit: 'kWh' },
    { obis: '0-0:96.14.0', value: 2, unit: undefined },
    // DSMR 3.0 writes kW with 2 decimals.
    { obis: '1-0:1.7.0', value: legacy ? 0.43 : 0.432, unit: 'kW' },
    { obis: '0-1:24.1.0', value: 3, unit: undefined },
    { obis: '0-1:24.2.1', value: 4321.987, unit: 'm3', time: at(legacy ? gasTimeWithoutDst : GAS_TIME) },
  ];
}

function telegramOf(version: DsmrVersion): DsmrTelegram {
  return {
    version,
    identification: 'XMX5 EMULATED',
    time: at(NOW),
    serial: 'E0012345678901234',
    values: household(version),
  };
}

describe('writeTelegram', () => {
  it.each(DSMR_VERSIONS)(
    '%s: parses back to what was written (values in order, M-Bus included)',
    (version) => {
      const t = telegramOf(version);
      const parsed = parseTelegram(writeTelegram(t), { mbus: true });
      expect(parsed.identification).toBe(t.identification);
      expect(parsed.serial).toBe(t.serial);
      // DSMR 2.2/3.0 have no clock line.
      expect(parsed.time).toEqual(hasCrc(version) ? t.time : undefined);
      expect(parsed.values).toEqual(t.values);
    },
  );

  it.each(DSMR_VERSIONS)(
    '%s: CR LF line ends, a 4-digit uppercase CRC from 4.0 on, framed as one telegram',
    (version) => {
      const bytes = writeTelegram(telegramOf(version));
      const text = bytes.toString('latin1');
      expect(
        text
          .split('\n')
          .slice(0, -1)
          .every((l) => l.endsWith('\r')),
      ).toBe(true);
      expect(text).toMatch(hasCrc(version) ? /\r\n![0-9A-F]{4}\r\n$/ : /\r\n!\r\n$/);
      expect(frame([bytes, bytes]).telegrams).toEqual([bytes, bytes]);
    },
  );

  it('DSMR 5.0: the header lines and registers of the Iskra capture, byte for byte', () => {
    expectPrefix('TELEGRAM_V5', {
      version: '5.0',
      identification: 'ISk5\\2MT382-1000',
      time: at({ year: 2017, month: 1, day: 2, hour: 19, minute: 20, second: 2, dst: false }),
      serial: 'K8EG004046395507',
      values: [
        { obis: '1-0:1.8.1', value: 4.426, unit: 'kWh' },
        { obis: '1-0:1.8.2', value: 2.399, unit: 'kWh' },
        { obis: '1-0:2.8.1', value: 2.444, unit: 'kWh' },
        { obis: '1-0:2.8.2', value: 0, unit: 'kWh' },
        { obis: '0-0:96.14.0', value: 2, unit: undefined },
        { obis: '1-0:1.7.0', value: 0.244, unit: 'kW' },
        { obis: '1-0:2.7.0', value: 0, unit: 'kW' },
        { obis: '0-0:96.7.21', value: 13, unit: undefined },
        { obis: '0-0:96.7.9', value: 0, unit: undefined },
      ],
    });
  });

  it('DSMR 3.0: no clock, 5.3 kWh and 3.2 kW, gas as the 24.3.0 profile', () => {
    expectPrefix('TELEGRAM_V3', {
      version: '3.0',
      identification: 'ISk5\\2MT382-1000',
      serial: 'K8EG004046395507',
      values: [
        { obis: '1-0:1.8.1', value: 12345.678, unit: 'kWh' },
        { obis: '1-0:1.8.2', value: 12345.678, unit: 'kWh' },
        { obis: '1-0:2.8.1', value: 12345.678, unit: 'kWh' },
        { obis: '1-0:2.8.2', value: 12345.678, unit: 'kWh' },
        { obis: '0-0:96.14.0', value: 2, unit: undefined },
        { obis: '1-0:1.7.0', value: 1.19, unit: 'kW' },
        { obis: '1-0:2.7.0', value: 0, unit: 'kW' },
        { obis: '0-0:17.0.0', value: 16, unit: 'A' },
        { obis: '0-0:96.3.10', value: 1, unit: undefined },
      ],
    });
    expectLines('TELEGRAM_V3', '3.0', [
      {
        obis: '0-1:24.2.1',
        value: 1.001,
        unit: 'm3',
        time: at({ year: 2009, month: 2, day: 12, hour: 16, minute: 0, second: 0 }),
      },
    ]);
  });

  it('DSMR 2.2, 4.2, Fluvius, Sagemcom: value lines as those meters write them', () => {
    expectLines('TELEGRAM_V2_2', '2.2', [
      { obis: '1-0:1.8.1', value: 1.001, unit: 'kWh' },
      { obis: '1-0:1.7.0', value: 1.01, unit: 'kW' },
      { obis: '0-0:17.0.0', value: 999, unit: 'kW' },
      {
        obis: '0-1:24.2.1',
        value: 1.001,
        unit: 'm3',
        time: at({ year: 2016, month: 11, day: 7, hour: 19, minute: 0, second: 0 }),
      },
    ]);
    expectLines('TELEGRAM_V4_2', '4.2', [
      { obis: '1-0:1.8.1', value: 1581.123, unit: 'kWh' },
      { obis: '1-0:1.7.0', value: 2.027, unit: 'kW' },
      { obis: '1-0:51.7.0', value: 6, unit: 'A' },
      {
        obis: '0-1:24.2.1',
        value: 981.443,
        unit: 'm3',
        time: at({ year: 2016, month: 11, day: 29, hour: 20, minute: 0, second: 0, dst: false }),
      },
    ]);
    expectLines('TELEGRAM_V5_TWO_MBUS', '5.0', [{ obis: '1-0:32.7.0', value: 229.9, unit: 'V' }]);
    expectLines('TELEGRAM_SAGEMCOM_T210_D_R', '5.0', [
      { obis: '1-0:1.8.1', value: 5017120, unit: 'Wh' },
      { obis: '1-0:1.7.0', value: 286, unit: 'W' },
    ]);
    expectLines('TELEGRAM_FLUVIUS_V171_ALT', '5.0.2-be', [
      { obis: '1-0:31.7.0', value: 0.27, unit: 'A' },
      {
        obis: '1-0:1.6.0',
        value: 3.064,
        unit: 'kW',
        time: at({ year: 2023, month: 11, day: 2, hour: 11, minute: 45, second: 0, dst: false }),
      },
    ]);
  });

  it('Fluvius: the e-MUCS header lines in their order', () => {
    expectPrefix('TELEGRAM_FLUVIUS_V171', {
      version: '5.0.2-be',
      identification: 'FLU5\\253769484_A',
      serial: '1SAG3101021605',
      time: at({ year: 2020, month: 5, day: 12, hour: 13, minute: 54, second: 9, dst: true }),
      values: [
        { obis: '1-0:1.8.1', value: 0.034, unit: 'kWh' },
        { obis: '1-0:1.8.2', value: 15.758, unit: 'kWh' },
      ],
    });
  });

  it('refuses what no meter could send', () => {
    const base = telegramOf('5.0');
    expect(() => writeTelegram({ ...base, identification: 'X/Y5' })).toThrow(RangeError);
    expect(() => writeTelegram({ ...base, identification: '12' })).toThrow(RangeError);
    expect(() => writeTelegram({ ...base, time: { kind: 'epoch', epochMs: 0 } })).toThrow(RangeError);
    expect(() => writeTelegram({ ...base, values: [{ obis: '1.8', value: 1, unit: 'kWh' }] })).toThrow(
      RangeError,
    );
    expect(() =>
      writeTelegram({ ...base, values: [{ obis: '1-0:1.8.1', value: NaN, unit: 'kWh' }] }),
    ).toThrow(RangeError);
    expect(() => writeTelegram({ ...base, values: [{ obis: '1-0:1.8.1', value: 1, unit: 'k Wh' }] })).toThrow(
      RangeError,
    );
  });
});

/** The written telegram's lines before "!" are the first lines of the capture. */
function expectPrefix(name: CaptureName, t: DsmrTelegram): void {
  const written = linesOf(writeTelegram(t));
  const real = linesOf(capture(name));
  expect(written.length).toBeGreaterThan(3);
  expect(written).toEqual(real.slice(0, written.length));
}

/** Each value's lines, written alone, appear in the capture. */
function expectLines(name: CaptureName, version: DsmrVersion, values: ObisValue[]): void {
  const real = capture(name).toString('latin1');
  for (const v of values) {
    // Without the header, the blank line and the version line.
    const lines = linesOf(writeTelegram({ version, identification: 'XXX5', values: [v] })).filter(
      (l) => !/^(\/|$|1-3:0\.2\.8|0-0:96\.1\.4)/.test(l),
    );
    expect(real, v.obis).toContain(lines.map((l) => `${l}\r\n`).join(''));
  }
}

function linesOf(bytes: Buffer): string[] {
  const text = bytes.toString('latin1');
  return text.slice(0, text.indexOf('!')).split('\r\n').slice(0, -1);
}
