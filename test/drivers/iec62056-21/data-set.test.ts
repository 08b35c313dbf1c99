/**
 * Data lines: the data set syntax, OBIS normalisation of the reduced forms meters send, time groups and which
 * data sets become values.
 */
import { describe, expect, it } from 'vitest';
import {
  interpretDataSets,
  parseClock,
  parseDataSets,
  parseObisAddress,
  parseTimestamp,
} from '../../../drivers/iec62056-21/data-set.ts';
import { expectCode } from '../../helpers/expect-code.ts';

describe('parseDataSets', () => {
  it('reads one data set per line, extra groups, and several data sets on one line', () => {
    expect(
      parseDataSets('1-0:1.6.0*255(02.468*kW)(1703100930)\r\n6.8(0029.055*MWh)6.26(01589.28*m3)F(0)'),
    ).toEqual([
      { address: '1-0:1.6.0*255', groups: ['02.468*kW', '1703100930'] },
      { address: '6.8', groups: ['0029.055*MWh'] },
      { address: '6.26', groups: ['01589.28*m3'] },
      { address: 'F', groups: ['0'] },
    ]);
    expect(parseDataSets('\r\n\r\n(1)(2)\r\n')).toEqual([{ address: '', groups: ['1', '2'] }]);
  });

  it('rejects broken syntax as FRAME_MALFORMED', () => {
    for (const text of [
      '1.8.0(1',
      '1.8.0',
      '1.8.0(1)x',
      '1.8.0(1)\n',
      '1.8.0(a(b)',
      `${'1'.repeat(33)}(1)`,
      `1(${'1'.repeat(146)})`,
    ]) {
      expectCode('FRAME_MALFORMED', () => parseDataSets(text));
    }
  });
});

describe('parseObisAddress', () => {
  it('normalises as MeterFrame documents', () => {
    const obis = (a: string) => parseObisAddress(a)?.obis;
    expect(obis('1-0:1.8.0*255')).toBe('1-0:1.8.0');
    expect(obis('1-0:1.8.0')).toBe('1-0:1.8.0');
    expect(obis('1.8.0')).toBe('1-0:1.8.0');
    expect(obis('1-0:1.8.0*09')).toBe('1-0:1.8.0*9');
    expect(obis('1.8.0&01')).toBe('1-0:1.8.0*1');
    expect(obis('0-0:96.1.255*255')).toBe('0-0:96.1.255');
    expect(obis('1-1:F.F')).toBe('1-1:F.F');
    expect(obis('6.8')).toBe('1-0:6.8');
    expect(parseObisAddress('C.1.0')?.numeric).toBe(false);
    expect(parseObisAddress('1.8.0')?.numeric).toBe(true);
    expect(parseObisAddress('1.8.0 * 19')).toBeUndefined();
    expect(parseObisAddress('1-0:1.8.256')).toBeUndefined();
    expect(parseObisAddress('')).toBeUndefined();
  });
});

describe('times', () => {
  it('reads value time groups with and without century digit, seconds and DST flag', () => {
    expect(parseTimestamp('1703100930')).toEqual({
      year: 2017,
      month: 3,
      day: 10,
      hour: 9,
      minute: 30,
      second: 0,
    });
    expect(parseTimestamp('1190711111500')).toEqual({
      year: 2019,
      month: 7,
      day: 11,
      hour: 11,
      minute: 15,
      second: 0,
    });
    expect(parseTimestamp('170310093012S')).toEqual({
      year: 2017,
      month: 3,
      day: 10,
      hour: 9,
      minute: 30,
      second: 12,
      dst: true,
    });
    for (const text of ['01', '1713100930', '1702300930', '1703102430', '', 'abcdefghij']) {
      expect(parseTimestamp(text), text).toBeUndefined();
    }
  });

  it('reads the clock of 0.9.1 and 0.9.2 in the forms meters send', () => {
    const at = { year: 2017, month: 3, day: 18, hour: 20, minute: 14, second: 55 };
    expect(parseClock('201455', '0170318')).toEqual(at);
    expect(parseClock('201455', '170318')).toEqual(at);
    expect(parseClock('20:14:55', '17-03-18')).toEqual(at);
    expect(parseClock('201455', '1170318')).toEqual(at);
    expect(parseClock('201455', '0000000')).toBeUndefined(); // an unset clock
    expect(parseClock('256000', '0170318')).toBeUndefined();
  });
});

describe('interpretDataSets', () => {
  it('takes the serial from 0.0.0, else C.1.0, and no time from half a clock', () => {
    expect(interpretDataSets(parseDataSets('C.1.0(111)\r\n0.0.0(222)\r\n0.9.1(101010)'))).toEqual({
      serial: '222',
      values: [],
    });
    expect(interpretDataSets(parseDataSets('0-0:C.1.0*255(111)\r\n1.8.0(+1.5)(x)\r\n2.8.0(-2*Wh)'))).toEqual({
      serial: '111',
      values: [
        { obis: '1-0:1.8.0', value: 1.5, unit: undefined },
        { obis: '1-0:2.8.0', value: -2, unit: 'Wh' },
      ],
    });
  });

  it('keeps text, lists and non-quantity groups out of the values', () => {
    const sets = parseDataSets(
      '1.8.0(0000000 kWh)\r\n1.8.1(1.2.3)\r\n96.7.21(5)\r\n97.97.0(0)\r\n0.1.0(33)\r\nL.1(1)',
    );
    expect(interpretDataSets(sets).values).toEqual([]);
  });
});
