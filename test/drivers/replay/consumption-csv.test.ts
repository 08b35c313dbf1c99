/**
 * The consumption CSV reader on the committed fixture (26 households, 4 days half-hourly, 4 760 rows) and on small
 * hand-written files for the malformed cases. The expected values come from the file text itself, parsed here
 * independently of the reader.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readConsumptionCsv, type ConsumptionData } from '../../../drivers/replay/consumption-csv.ts';
import { isGatewayError } from '../../../gateway/errors.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/consumption/sgsc-2012-10-09_4days.csv');
const HEADER = 'customer_id,reading_datetime,general_supply_kwh';
const HALF_HOUR = 30 * 60_000;

/** The fixture's data lines, split on commas. */
function fixtureLines(): string[][] {
  return readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => l.split(','));
}

function tempCsv(lines: string[], name = 'data.csv'): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'csv-')), name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('readConsumptionCsv on the committed fixture', () => {
  let data: ConsumptionData;
  let lines: string[][];

  beforeAll(async () => {
    data = await readConsumptionCsv(FIXTURE, 'UTC');
    lines = fixtureLines();
  });

  it('reads every row of all 26 households, none malformed or duplicate', () => {
    expect(lines).toHaveLength(4760);
    expect(data.households.size).toBe(26);
    expect([...data.households.values()].reduce((n, rows) => n + rows.length, 0)).toBe(4760);
    expect(data.malformedRows).toBe(0);
    expect(data.duplicateRows).toBe(0);
    expect(data.resolutionMs).toBe(HALF_HOUR);
  });

  it('has the per-household row counts of the file, gaps included', () => {
    const counts = new Map<string, number>();
    for (const [id] of lines) counts.set(id!, (counts.get(id!) ?? 0) + 1);
    expect(new Map([...data.households].map(([id, rows]) => [id, rows.length]))).toEqual(counts);
    // Two households with gaps (see the fixture's README).
    expect(data.households.get('10006704')).toHaveLength(188);
    expect(data.households.get('10017472')).toHaveLength(152);
  });

  it('reads exact values: the interval end as wall-clock time in the zone, kWh as whole Wh', () => {
    // First data line: 10006414,2012-10-09 00:30:00,0.046
    expect(data.households.get('10006414')![0]).toEqual({ end: Date.UTC(2012, 9, 9, 0, 30), wh: 46 });
    // Last line: 10018250,2012-10-13 00:00:00,0.293
    expect(data.households.get('10018250')!.at(-1)).toEqual({ end: Date.UTC(2012, 9, 13, 0, 0), wh: 293 });
    // Every row matches its line of the file.
    for (const [id, when, kwh] of lines.slice(0, 500)) {
      const end = Date.parse(`${when!.replace(' ', 'T')}Z`);
      const row = data.households.get(id!)!.find((r) => r.end === end);
      expect(row?.wh, `${id} ${when}`).toBe(Math.round(Number(kwh) * 1000));
    }
  });

  it('returns each household sorted by interval end, without repeats', () => {
    for (const rows of data.households.values()) {
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.end).toBeGreaterThan(rows[i - 1]!.end);
    }
  });

  it('reads the wall-clock times in the given zone', async () => {
    // Sydney is on AEDT (UTC+11) since 2012-10-07.
    const sydney = await readConsumptionCsv(FIXTURE, 'Australia/Sydney', new Set(['10006414']));
    expect(sydney.households.get('10006414')![0]!.end).toBe(Date.UTC(2012, 9, 8, 13, 30));
  });

  it('keeps only the requested households', async () => {
    const only = await readConsumptionCsv(FIXTURE, 'UTC', new Set(['10006414', '10017472', 'not-in-file']));
    expect([...only.households.keys()].sort()).toEqual(['10006414', '10017472']);
    expect(only.households.get('10006414')).toEqual(data.households.get('10006414'));
    expect(only.households.get('10017472')).toEqual(data.households.get('10017472'));
  });

  it('reads a gzipped copy the same way', async () => {
    const gz = path.join(mkdtempSync(path.join(tmpdir(), 'csv-')), 'copy.csv.gz');
    writeFileSync(gz, gzipSync(readFileSync(FIXTURE)));
    expect(await readConsumptionCsv(gz, 'UTC')).toEqual(data);
  });
});

describe('readConsumptionCsv on hand-written files', () => {
  it('counts and skips malformed rows, keeping the good ones', async () => {
    const file = tempCsv([
      HEADER,
      'h1,2012-10-09 00:30:00,0.046',
      'h1,2012-13-09 01:00:00,0.083', // month 13
      'h1,09/10/2012 01:30,0.100', // not ISO
      'h1,2012-10-09 25:00:00,0.100', // hour 25
      'h1,2012-10-09 02:00:00,abc', // not a number
      'h1,2012-10-09 02:30:00,-0.5', // negative
      'h1,2012-10-09 03:00:00,0.1234', // more than 3 decimals
      'h1,2012-10-09 03:30:00,', // empty kWh
      'h1,2012-10-09 04:00:00,0.1,extra', // extra column
      'h1,2012-10-09 04:30:00', // missing column
      'just-one-field',
      '',
      'h1,2012-10-09 05:00:00,1.5',
      'h2,2012-10-09 05:00:00,12',
    ]);
    const data = await readConsumptionCsv(file, 'UTC');
    expect(data.malformedRows).toBe(10);
    expect(data.duplicateRows).toBe(0);
    expect(data.households.get('h1')).toEqual([
      { end: Date.UTC(2012, 9, 9, 0, 30), wh: 46 },
      { end: Date.UTC(2012, 9, 9, 5, 0), wh: 1500 },
    ]);
    expect(data.households.get('h2')).toEqual([{ end: Date.UTC(2012, 9, 9, 5, 0), wh: 12_000 }]);
  });

  it('does not count malformed values of households it was asked to skip, but does count broken lines', async () => {
    const file = tempCsv([
      HEADER,
      'h1,2012-10-09 00:30:00,0.046',
      'h2,2012-10-09 00:30:00,bad',
      'h2,2012-10-09 01:00:00,0.1,extra',
    ]);
    const data = await readConsumptionCsv(file, 'UTC', new Set(['h1']));
    expect([...data.households.keys()]).toEqual(['h1']);
    expect(data.malformedRows).toBe(1);
  });

  it('removes and counts duplicate rows, keeping the rows sorted', async () => {
    const file = tempCsv([
      HEADER,
      'h1,2012-10-09 01:30:00,0.300',
      'h1,2012-10-09 00:30:00,0.100',
      'h1,2012-10-09 01:00:00,0.200',
      'h1,2012-10-09 00:30:00,0.100',
      'h1,2012-10-09 01:30:00,0.300',
      'h1,2012-10-09 01:30:00,0.300',
      'h2,2012-10-09 00:30:00,0.100',
    ]);
    const data = await readConsumptionCsv(file, 'UTC');
    expect(data.duplicateRows).toBe(3);
    expect(data.households.get('h1')!.map((r) => r.wh)).toEqual([100, 200, 300]);
    expect(data.households.get('h2')).toHaveLength(1);
    expect(data.resolutionMs).toBe(HALF_HOUR);
  });

  it('takes the most common spacing as the resolution', async () => {
    const file = tempCsv([
      HEADER,
      'h1,2012-10-09 00:15:00,0.1',
      'h1,2012-10-09 00:30:00,0.1',
      'h1,2012-10-09 00:45:00,0.1',
      'h1,2012-10-09 01:00:00,0.1',
      'h1,2012-10-09 02:00:00,0.1', // a gap
    ]);
    expect((await readConsumptionCsv(file, 'UTC')).resolutionMs).toBe(15 * 60_000);
    expect((await readConsumptionCsv(tempCsv([HEADER]), 'UTC')).resolutionMs).toBeUndefined();
  });

  it('accepts CRLF line endings and a byte-order mark before the header', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'csv-')), 'windows.csv');
    writeFileSync(file, `\uFEFF${HEADER}\r\nh1,2012-10-09 00:30:00,0.046\r\nh1,2012-10-09 01:00:00,1\r\n`);
    const data = await readConsumptionCsv(file, 'UTC');
    expect(data.malformedRows).toBe(0);
    expect(data.households.get('h1')!.map((r) => r.wh)).toEqual([46, 1000]);
  });

  it('refuses a file with the wrong header (CSV_MALFORMED)', async () => {
    for (const header of [
      'id,datetime,kwh',
      'customer_id,reading_datetime',
      'h1,2012-10-09 00:30:00,0.046',
    ]) {
      const error = await rejection(
        readConsumptionCsv(tempCsv([header, 'h1,2012-10-09 01:00:00,0.1']), 'UTC'),
      );
      expect(isGatewayError(error, 'CSV_MALFORMED'), String(error)).toBe(true);
    }
  });

  it('refuses a missing file and a corrupt gzip file (CSV_MALFORMED)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'csv-'));
    expect(
      isGatewayError(await rejection(readConsumptionCsv(path.join(dir, 'nope.csv'), 'UTC')), 'CSV_MALFORMED'),
    ).toBe(true);
    const corrupt = path.join(dir, 'corrupt.csv.gz');
    writeFileSync(corrupt, `${HEADER}\nnot gzip at all\n`);
    expect(isGatewayError(await rejection(readConsumptionCsv(corrupt, 'UTC')), 'CSV_MALFORMED')).toBe(true);
  });
});
