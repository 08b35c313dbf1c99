/**
 * The writer through the framer and the parser: what an emulated eHZ meter sends must come back as the same
 * register, through every path the encoding has (escaped 0x1b runs, long octet strings, long lists, padding).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSmlFrame } from '../../../drivers/sml/sml-parser.ts';
import { buildSmlFile, type SmlWriterEntry } from '../../../drivers/sml/sml-writer.ts';
import { START, unwrapTransport } from '../../../drivers/sml/sml-transport.ts';
import { captureFile, chunked, runFramer } from './sml-fixtures.ts';

const SERVER_ID = Buffer.from('0a01454d480000123456', 'hex');

describe('buildSmlFile', () => {
  it("presents a household's cumulative energy register 1-0:1.8.0 in Wh", () => {
    const file = buildSmlFile({
      serverId: SERVER_ID,
      entries: [{ obis: '1-0:1.8.0', unit: 'Wh', scaler: -1, value: 123_456_7 }],
      sensorTime: { secIndex: 1000 },
    });
    expect(file.subarray(0, 8).equals(START)).toBe(true);
    expect(file.length % 4).toBe(0);
    expect(parseSmlFrame(file)).toEqual({
      identification: '0a01454d480000123456',
      serial: '0a01454d480000123456',
      values: [{ obis: '1-0:1.8.0', value: 123_456.7, unit: 'Wh' }],
    });
  });

  it('lays out a file like the captured eHZ (same header bytes and entry encoding)', () => {
    const file = buildSmlFile({
      serverId: Buffer.from('0901444e540100002030', 'hex'),
      entries: [{ obis: '1-0:2.8.0', unit: 'Wh', scaler: -1, value: 43730 }],
      transactionId: 0x11d9,
      sensorTime: { secIndex: 0x71650a9d },
    });
    const captured = captureFile(0).toString('hex');
    const written = file.toString('hex');
    // Message 1 starts alike: transactionId, groupNo, abortOnError, OpenResponse tag, codepage, clientId.
    expect(written.slice(16, 44)).toBe(captured.slice(16, 44));
    // GetList.Res: tag, clientId, serverId, listName, actSensorTime (secIndex).
    const getList = '630701 77 01 0b0901444e540100002030 070100620affff 72 6201 6571650a9d'.replace(/ /g, '');
    expect(captured).toContain(getList);
    expect(written).toContain(getList);
    // The register entry differs only in its status word (64 010190), which the emulator leaves absent.
    expect(captured).toContain('77070100020800ff6401019001621e52ff59000000000000aad201');
    expect(written).toContain('77070100020800ff0101621e52ff59000000000000aad201');
  });

  it('escapes 0x1b runs in the data and reads them back, whatever the chunking', async () => {
    const serverId = Buffer.from('1b1b1b1b1b1b1b1b1b1b1b', 'hex');
    const file = buildSmlFile({
      serverId,
      entries: [{ obis: '1-0:1.8.0', unit: 'Wh', value: 0x1b1b1b1b1b1bn }],
    });
    expect(unwrapTransport(file).length).toBeLessThan(file.length - 16);
    const run = await runFramer(chunked(Buffer.concat([file, file]), 3));
    expect(run.rejects).toEqual([]);
    expect(run.frames).toHaveLength(2);
    const frame = parseSmlFrame(run.frames[1]!);
    expect(frame.identification).toBe(serverId.toString('hex'));
    expect(frame.values[0]!.value).toBe(0x1b1b1b1b1b1b);
  });

  it('writes long octet strings and long lists with multi-byte TL fields', () => {
    const serverId = Buffer.alloc(300, 0x42);
    const entries = Array.from({ length: 40 }, (_, i) => ({ obis: `1-0:1.8.${i}`, unit: 'Wh', value: i }));
    const frame = parseSmlFrame(buildSmlFile({ serverId, entries }));
    expect(frame.identification).toBe(serverId.toString('hex'));
    expect(frame.values.map((v) => v.value)).toEqual(entries.map((e) => e.value));
  });

  it('writes an absolute sensor time', () => {
    const file = buildSmlFile({
      serverId: SERVER_ID,
      entries: [],
      sensorTime: { epochMs: 1_700_000_000_999 },
    });
    expect(parseSmlFrame(file).time).toEqual({ kind: 'epoch', epochMs: 1_700_000_000_000 });
  });

  it.each([
    ['a malformed OBIS code', { obis: '1.8' }],
    ['an unknown unit', { obis: '1-0:1.8.0', unit: 'furlong' }],
    ['a fractional value', { obis: '1-0:1.8.0', value: 1.5 }],
    ['a value beyond Integer64', { obis: '1-0:1.8.0', value: 2n ** 63n }],
    ['a scaler beyond Integer8', { obis: '1-0:1.8.0', scaler: 128 }],
  ])('refuses %s', (_what, partial) => {
    const bad = { value: 1, ...partial } as SmlWriterEntry;
    expect(() => buildSmlFile({ serverId: SERVER_ID, entries: [bad] })).toThrow(RangeError);
  });

  it('refuses a server id the reader would take for a start sequence', () => {
    const serverId = Buffer.from('1b1b1b1b01010101', 'hex');
    expect(() => buildSmlFile({ serverId, entries: [] })).toThrow(RangeError);
  });

  it('round-trips arbitrary entries through framer and parser', async () => {
    const units = ['Wh', 'W', 'V', 'A', 'Hz', 'varh', 'm3', undefined];
    const arbEntry = fc.record({
      obis: fc
        .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
        .map(([a, b, c, d, e, f]) => `${a}-${b}:${c}.${d}.${e}${f === 255 ? '' : `*${f}`}`),
      unit: fc.constantFrom(...units),
      scaler: fc.integer({ min: -4, max: 4 }),
      value: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.array(arbEntry, { maxLength: 20 }),
        fc.nat(0xfffffff0),
        async (serverId, entries, transactionId) => {
          const file = buildSmlFile({ serverId: Buffer.from(serverId), entries, transactionId });
          const run = await runFramer(chunked(file, 13));
          expect(run.rejects).toEqual([]);
          const frame = parseSmlFrame(run.frames[0]!);
          expect(frame.identification).toBe(Buffer.from(serverId).toString('hex'));
          expect(frame.values).toEqual(
            entries.map((e) => ({
              obis: e.obis,
              unit: e.unit,
              value: e.scaler >= 0 ? e.value * 10 ** e.scaler : e.value / 10 ** -e.scaler,
            })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
