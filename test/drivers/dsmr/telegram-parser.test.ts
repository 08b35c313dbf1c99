/**
 * parseTelegram on every committed capture: the numbers checked here are read off the telegram text, and every
 * value the parser returns is checked against the line it came from, found independently of the parser.
 */
import { describe, expect, it } from 'vitest';
import type { MeterFrame, ObisValue } from '../../../drivers/common/meter-frame.ts';
import { parseTelegram } from '../../../drivers/dsmr/telegram-parser.ts';
import { CAPTURES, capture, frame, type CaptureName } from './dsmr-fixtures.ts';

/** The telegram of a capture as the framer delivers it (the EasyMeter files carry a trailer after "!"). */
function telegram(name: CaptureName): Buffer {
  const { telegrams, rejects } = frame([capture(name)]);
  expect(rejects).toEqual([]);
  expect(telegrams).toHaveLength(1);
  return telegrams[0]!;
}

function parse(name: CaptureName, mbus = false): MeterFrame {
  return parseTelegram(telegram(name), { mbus });
}

function value(frame: MeterFrame, obis: string): ObisValue | undefined {
  const found = frame.values.filter((v) => v.obis === obis);
  expect(found.length, obis).toBeLessThanOrEqual(1);
  return found[0];
}

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number, dst?: boolean) => ({
  kind: 'local' as const,
  local: {
    year: y,
    month: mo,
    day: d,
    hour: h,
    minute: mi,
    second: s,
    ...(dst === undefined ? {} : { dst }),
  },
});

describe('parseTelegram on every capture', () => {
  it.each(CAPTURES)('%s: each value is the number on its own line of the telegram', (name) => {
    const text = telegram(name).toString('latin1');
    const lines = text.split(/\r?\n/);
    const frame = parseTelegram(telegram(name), { mbus: true });
    expect(frame.values.length).toBeGreaterThan(0);
    for (const v of frame.values) {
      if (v.obis.endsWith(':24.2.1') && text.includes(':24.3.0(')) continue; // DSMR 2.2/3.0 profile, below
      // The line is found by its OBIS text, with or without the "*255" some meters add.
      const line = lines.find((l) => l.startsWith(`${v.obis}(`) || l.startsWith(`${v.obis}*255(`));
      expect(line, v.obis).toBeDefined();
      const last = /\(([^()]*)\)$/.exec(line!)![1]!;
      const [number, unit] = last.split('*');
      expect(v.value, v.obis).toBe(Number(number));
      expect(v.unit, v.obis).toBe(unit);
    }
    // Nothing textual or buffered ever becomes a value.
    const kept = frame.values.map((v) => v.obis);
    for (const text of ['0.2.8', '96.1.', '96.13.', '42.0.0', '99.97.0', '98.1.0', ':0.0.0', '96.5.5']) {
      expect(
        kept.filter((o) => o.includes(text)),
        text,
      ).toEqual([]);
    }
  });

  it.each(CAPTURES)('%s: without the mbus option no M-Bus channel value is kept', (name) => {
    const frame = parse(name);
    expect(frame.values.filter((v) => /^0-[1-9]/.test(v.obis))).toEqual([]);
  });
});

describe('parseTelegram on each meter', () => {
  it('DSMR 5.0 (Iskra): registers, clock in winter time, hex serial decoded', () => {
    const f = parse('TELEGRAM_V5');
    expect(f.identification).toBe('ISk5\\2MT382-1000');
    expect(f.serial).toBe('K8EG004046395507');
    expect(f.time).toEqual(local(2017, 1, 2, 19, 20, 2, false));
    expect(value(f, '1-0:1.8.1')).toEqual({ obis: '1-0:1.8.1', value: 4.426, unit: 'kWh' });
    expect(value(f, '1-0:1.8.2')?.value).toBe(2.399);
    expect(value(f, '1-0:2.8.1')?.value).toBe(2.444);
    expect(value(f, '1-0:2.8.2')?.value).toBe(0);
    expect(value(f, '1-0:1.7.0')).toEqual({ obis: '1-0:1.7.0', value: 0.244, unit: 'kW' });
    expect(value(f, '1-0:32.7.0')).toEqual({ obis: '1-0:32.7.0', value: 230, unit: 'V' });
    expect(value(f, '1-0:31.7.0')).toEqual({ obis: '1-0:31.7.0', value: 0.48, unit: 'A' });
    expect(value(f, '0-0:96.14.0')).toEqual({ obis: '0-0:96.14.0', value: 2, unit: undefined });
    expect(value(f, '0-0:96.7.21')?.value).toBe(13);
    expect(value(f, '0-1:24.2.1')).toBeUndefined();
  });

  it('DSMR 5.0 with mbus: the gas value carries its capture time', () => {
    const f = parse('TELEGRAM_V5', true);
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 0.107,
      unit: 'm3',
      time: local(2017, 1, 2, 16, 10, 5, false),
    });
    expect(value(f, '0-1:24.1.0')?.value).toBe(3);
  });

  it('DSMR 4.2 (Kaifa): the power failure log with three entries is skipped', () => {
    const f = parse('TELEGRAM_V4_2', true);
    expect(f.identification).toBe('KFM5KAIFA-METER');
    expect(f.time).toEqual(local(2016, 11, 13, 20, 57, 57, false));
    // Not printable ASCII once decoded: kept as sent.
    expect(f.serial).toBe('3960221976967177082151037881335713');
    expect(value(f, '1-0:1.8.1')?.value).toBe(1581.123);
    expect(value(f, '1-0:1.8.2')?.value).toBe(1435.706);
    expect(value(f, '1-0:1.7.0')?.value).toBe(2.027);
    expect(value(f, '1-0:51.7.0')).toEqual({ obis: '1-0:51.7.0', value: 6, unit: 'A' });
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 981.443,
      unit: 'm3',
      time: local(2016, 11, 29, 20, 0, 0, false),
    });
  });

  it('DSMR 3.0: no CRC, no clock, gas from the 24.3.0 profile and its next line', () => {
    const f = parse('TELEGRAM_V3', true);
    expect(f.time).toBeUndefined();
    expect(f.serial).toBe('K8EG004046395507');
    expect(value(f, '1-0:1.8.1')?.value).toBe(12345.678);
    expect(value(f, '1-0:1.7.0')).toEqual({ obis: '1-0:1.7.0', value: 1.19, unit: 'kW' });
    expect(value(f, '0-0:17.0.0')).toEqual({ obis: '0-0:17.0.0', value: 16, unit: 'A' });
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 1.001,
      unit: 'm3',
      time: local(2009, 2, 12, 16, 0, 0),
    });
    expect(value(f, '0-1:24.3.0')).toBeUndefined();
  });

  it('DSMR 2.2: placeholder serial kept as sent; gas profile parsed', () => {
    const f = parse('TELEGRAM_V2_2', true);
    expect(f.identification).toBe('ISk5\\2MT382-1004');
    expect(f.serial).toBe('00000000000000');
    expect(value(f, '1-0:1.8.1')?.value).toBe(1.001);
    expect(value(f, '1-0:1.7.0')?.value).toBe(1.01);
    expect(value(f, '0-0:17.0.0')).toEqual({ obis: '0-0:17.0.0', value: 999, unit: 'kW' });
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 1.001,
      unit: 'm3',
      time: local(2016, 11, 7, 19, 0, 0),
    });
  });

  it('two M-Bus devices: a never-read channel 1 (1970 dummy, no unit) and gas on channel 2', () => {
    const f = parse('TELEGRAM_V5_TWO_MBUS', true);
    expect(f.serial).toBe('E0044007382246019');
    expect(f.time).toEqual(local(2020, 4, 26, 22, 33, 25, true));
    expect(value(f, '1-0:1.8.1')?.value).toBe(2130.115);
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 0,
      unit: undefined,
      time: local(1970, 1, 1, 1, 0, 0, false),
    });
    expect(value(f, '0-2:24.2.1')).toEqual({
      obis: '0-2:24.2.1',
      value: 246.138,
      unit: 'm3',
      time: local(2020, 4, 26, 22, 30, 1, true),
    });
  });

  it('Fluvius (BE): peak demand with its time, histories skipped, gas and water channels', () => {
    const f = parse('TELEGRAM_FLUVIUS_V171', true);
    expect(f.identification).toBe('FLU5\\253769484_A');
    // 0-0:96.1.1(3153414733313031303231363035)
    expect(f.serial).toBe('1SAG3101021605');
    expect(f.time).toEqual(local(2020, 5, 12, 13, 54, 9, true));
    expect(value(f, '1-0:1.8.1')?.value).toBe(0.034);
    expect(value(f, '1-0:1.8.2')?.value).toBe(15.758);
    expect(value(f, '1-0:1.6.0')).toEqual({
      obis: '1-0:1.6.0',
      value: 2.589,
      unit: 'kW',
      time: local(2020, 5, 9, 13, 45, 58, true),
    });
    expect(value(f, '1-0:31.4.0')).toEqual({ obis: '1-0:31.4.0', value: 999, unit: 'A' });
    expect(value(f, '0-1:24.2.3')?.value).toBe(112.384);
    expect(value(f, '0-2:24.2.1')?.value).toBe(872.234);
    expect(value(f, '0-2:24.1.0')?.value).toBe(7);
  });

  it('Fluvius (BE), other meter: an impossible timestamp inside the skipped history does not matter', () => {
    const f = parse('TELEGRAM_FLUVIUS_V171_ALT');
    expect(f.time).toEqual(local(2023, 11, 2, 12, 15, 48, false));
    expect(value(f, '1-0:1.8.1')?.value).toBe(301.548);
    expect(value(f, '1-0:31.7.0')).toEqual({ obis: '1-0:31.7.0', value: 0.27, unit: 'A' });
  });

  it('Sagemcom T210-D-r: Wh, W and varh units kept as sent', () => {
    const f = parse('TELEGRAM_SAGEMCOM_T210_D_R');
    expect(f.identification).toBe('EST5\\253710000_A');
    expect(f.serial).toBeUndefined();
    expect(f.time).toEqual(local(2022, 10, 6, 15, 50, 14, true));
    expect(value(f, '1-0:1.8.1')).toEqual({ obis: '1-0:1.8.1', value: 5017120, unit: 'Wh' });
    expect(value(f, '1-0:1.7.0')).toEqual({ obis: '1-0:1.7.0', value: 286, unit: 'W' });
    expect(value(f, '1-0:4.8.0')).toEqual({ obis: '1-0:4.8.0', value: 3897726, unit: 'varh' });
  });

  it('Iskra Ireland: raw STX in the header, 96.1.0 as serial, empty M-Bus id ignored', () => {
    const f = parse('TELEGRAM_ISKRA_IE', true);
    expect(f.identification).toBe('ISk5\x02MIE5T-200');
    expect(f.serial).toBe('09610');
    expect(value(f, '1-0:1.8.1')?.value).toBe(10.181);
    expect(value(f, '1-0:2.8.2')?.value).toBe(10.282);
    expect(value(f, '1-0:72.7.0')?.value).toBe(243.3);
  });

  it('E.ON Hungary: four tariffs, reactive energy, power factor without unit, frequency', () => {
    const f = parse('TELEGRAM_V5_EON_HU');
    expect(f.serial).toBe('890082200002160');
    expect(value(f, '1-0:1.8.0')?.value).toBe(173.64);
    expect(value(f, '1-0:2.8.1')?.value).toBe(401.829);
    expect(value(f, '1-0:4.8.0')).toEqual({ obis: '1-0:4.8.0', value: 303.131, unit: 'kvarh' });
    expect(value(f, '1-0:13.7.0')).toEqual({ obis: '1-0:13.7.0', value: 4.556, unit: undefined });
    expect(value(f, '1-0:14.7.0')).toEqual({ obis: '1-0:14.7.0', value: 50, unit: 'Hz' });
  });

  it('heat meter with an unpadded 3-digit CRC: accepted; the heat value is M-Bus only', () => {
    expect(parse('TELEGRAM_UNPADDED_CRC').values).toEqual([]);
    const f = parse('TELEGRAM_UNPADDED_CRC', true);
    expect(f.identification).toBe('NWA-WARMTELINK');
    expect(f.serial).toBe('ADC3100000158491');
    expect(value(f, '0-1:24.2.1')).toEqual({
      obis: '0-1:24.2.1',
      value: 240.86,
      unit: 'GJ',
      time: local(2026, 2, 15, 20, 5, 23, false),
    });
  });

  it('EasyMeter: "*255" dropped from OBIS, ids and status words are not values', () => {
    const a = parse('TELEGRAM_ESY5Q3DA1004_V304');
    expect(a.identification).toBe('ESY5Q3DA1004 V3.04');
    expect(a.serial).toBe('1ESY1336001560');
    expect(a.values.map((v) => v.obis)).toEqual([
      '1-0:1.8.0',
      '1-0:21.7.0',
      '1-0:41.7.0',
      '1-0:61.7.0',
      '1-0:1.7.0',
    ]);
    expect(value(a, '1-0:1.8.0')).toEqual({ obis: '1-0:1.8.0', value: 32549.5061662, unit: 'kWh' });
    expect(value(a, '1-0:1.7.0')).toEqual({ obis: '1-0:1.7.0', value: 1688.21, unit: 'W' });
    const b = parse('TELEGRAM_ESY5Q3DB1024_V304');
    expect(value(b, '1-0:2.8.0')?.value).toBe(19949.3221493);
  });

  it('the framer discards the EasyMeter trailer after "!" without a reject', () => {
    const raw = capture('TELEGRAM_ESY5Q3DB1024_V304');
    const { telegrams, rejects } = frame([raw]);
    expect(rejects).toEqual([]);
    expect(telegrams[0]!.toString('latin1').endsWith('!\r\n')).toBe(true);
    expect(raw.length - telegrams[0]!.length).toBeGreaterThan(30);
  });
});
