import { describe, expect, it } from 'vitest';
import { findNeedles } from '../../../scripts/lib/plaintext-scan.ts';

describe('the plaintext scan', () => {
  const needles = new Map([
    ['kWh text 0.085', Buffer.from('0.085')],
    ['packed hex h@1', Buffer.from('5500000000')],
  ]);

  it('finds a kWh text written as a number of its own', () => {
    for (const text of ['m01,2012-10-09,0.085\n', '{"kwh":0.085}', '0.085', 'x 0.085 x'])
      expect(findNeedles(Buffer.from(text), needles), text).toEqual(['kWh text 0.085']);
  });

  it('does not take a timestamp or a longer number for a kWh text, but finds other encodings anywhere', () => {
    for (const text of ['"at":"2026-12-08T01:13:50.085Z"', '10.085', '0.0851'])
      expect(findNeedles(Buffer.from(text), needles), text).toEqual([]);
    expect(findNeedles(Buffer.from('"at":"…:50.085Z" 10.085 and 0.085;'), needles)).toEqual([
      'kWh text 0.085',
    ]);
    expect(findNeedles(Buffer.from('ab15500000000ff'), needles)).toEqual(['packed hex h@1']);
  });
});
