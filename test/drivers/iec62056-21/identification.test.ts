/**
 * The opening messages of IEC 62056-21: identifications of the captured meters, the baud rate tables of modes
 * A, B and C, the request and option select messages and their rejects.
 */
import { describe, expect, it } from 'vitest';
import {
  identificationMessage,
  modeCBaud,
  optionSelectMessage,
  parseIdentification,
  parseOptionSelect,
  parseRequestMessage,
  requestMessage,
} from '../../../drivers/iec62056-21/identification.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('parseIdentification on the captured meters', () => {
  it('Iskra MT174: mode C, 9600 baud, lower-case third letter (20 ms reaction)', () => {
    expect(parseIdentification(bytes('/ISk5MT174-0001\r\n'))).toEqual({
      manufacturer: 'ISk',
      baudChar: '5',
      mode: 'C',
      baud: 9600,
      enhanced: undefined,
      ident: 'MT174-0001',
      fastReaction: true,
      text: '/ISk5MT174-0001',
    });
  });

  it('Siemens 2WR5 "/SIEC2WR5": a letter is mode B, C = 2400 baud; "/SIE32WR5" is mode C 2400', () => {
    const b = parseIdentification(bytes('/SIEC2WR5\r\n'));
    expect([b.mode, b.baud, b.ident, b.fastReaction]).toEqual(['B', 2400, '2WR5', false]);
    const c = parseIdentification(bytes('/SIE32WR5\r\n'));
    expect([c.mode, c.baud, c.ident]).toEqual(['C', 2400, '2WR5']);
  });

  it('EMH eHZ and Itron EM214', () => {
    const emh = parseIdentification(bytes('/EMH5----eHZ-E0018E\r\n'));
    expect([emh.manufacturer, emh.baud, emh.ident]).toEqual(['EMH', 9600, '----eHZ-E0018E']);
    const itron = parseIdentification(bytes('/ITR5EM214\r\n'));
    expect([itron.manufacturer, itron.baud, itron.ident]).toEqual(['ITR', 9600, 'EM214']);
  });

  it('reads the enhanced identification character after "\\"', () => {
    const id = parseIdentification(bytes('/ISk5\\2MT382-1000\r\n'));
    expect([id.enhanced, id.ident, id.baud]).toEqual(['2', 'MT382-1000', 9600]);
  });

  it('maps every baud character of the tables', () => {
    const rate = (z: string) => parseIdentification(bytes(`/ABC${z}x\r\n`));
    expect(['0', '1', '2', '3', '4', '5', '6'].map((z) => rate(z).baud)).toEqual([
      300, 600, 1200, 2400, 4800, 9600, 19200,
    ]);
    expect(['7', '8', '9'].map((z) => [rate(z).mode, rate(z).baud])).toEqual([
      ['C', undefined],
      ['C', undefined],
      ['C', undefined],
    ]);
    expect(['A', 'B', 'C', 'D', 'E', 'F'].map((z) => rate(z).baud)).toEqual([
      600, 1200, 2400, 4800, 9600, 19200,
    ]);
    expect(['G', 'H', 'I'].map((z) => rate(z).baud)).toEqual([undefined, undefined, undefined]);
    expect([rate('Z').mode, rate('Z').baud, rate('-').mode]).toEqual(['A', 300, 'A']);
  });

  it('rejects what is not an identification', () => {
    expectCode('FRAME_TRUNCATED', () => parseIdentification(bytes('/ISk5MT174')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('ISk5MT174\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/IS\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/I5k5MT174\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/ISk5MT!74\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/ISk5MT\x0274\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/ISk5\\\r\n')));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes(`/ISk5${'x'.repeat(33)}\r\n`)));
    expectCode('FRAME_MALFORMED', () => parseIdentification(bytes('/ISk5MT174\r\nx')));
  });
});

describe('request and option select', () => {
  it('builds the request with and without a device address', () => {
    expect(requestMessage().toString('latin1')).toBe('/?!\r\n');
    expect(requestMessage('63355730').toString('latin1')).toBe('/?63355730!\r\n');
    expect(parseRequestMessage(bytes('/?Bla0!\r\n'))).toBe('Bla0');
    expect(parseRequestMessage(bytes('/?!\r\n'))).toBe('');
    expect(parseRequestMessage(bytes('/ISk5MT174\r\n'))).toBeUndefined();
  });

  it('refuses addresses the request cannot carry', () => {
    expectCode('CONFIG_INVALID', () => requestMessage('12!'));
    expectCode('CONFIG_INVALID', () => requestMessage('x'.repeat(33)));
  });

  it('builds ACK 0 Z 0 CR LF as the captures show it', () => {
    // The Iskra capture echoes "\x06050\r\n", the Siemens 2WR5 test sent "\x06030\r\n".
    expect(optionSelectMessage(9600)).toEqual(bytes('\x06050\r\n'));
    expect(optionSelectMessage(2400)).toEqual(bytes('\x06030\r\n'));
    expect(optionSelectMessage(300, '1')).toEqual(bytes('\x06001\r\n'));
    expect(parseOptionSelect(bytes('\x06050\r\n'))).toEqual({
      protocolControl: '0',
      baudChar: '5',
      baud: 9600,
      modeControl: '0',
    });
    expect(parseOptionSelect(bytes('\x0605\r\n'))).toBeUndefined();
    expectCode('CONFIG_INVALID', () => optionSelectMessage(115200));
    expect(modeCBaud('7')).toBeUndefined();
  });

  it('builds identifications that parse back', () => {
    const message = identificationMessage({ manufacturer: 'ISk', baudChar: '5', ident: 'MT174-0001' });
    expect(message.toString('latin1')).toBe('/ISk5MT174-0001\r\n');
    const enhanced = identificationMessage({ manufacturer: 'ABC', baudChar: '6', ident: 'X', enhanced: '2' });
    expect(parseIdentification(enhanced).enhanced).toBe('2');
    expectCode('FRAME_MALFORMED', () =>
      identificationMessage({ manufacturer: 'AB', baudChar: '5', ident: 'x' }),
    );
  });
});
