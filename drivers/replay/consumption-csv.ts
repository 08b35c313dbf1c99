/**
 * Reader of the consumption CSV shape (docs/drivers/replay.md): a header `customer_id,reading_datetime,
 * general_supply_kwh`, then one row per household and interval; `reading_datetime` is the END of the interval in
 * local wall-clock time without zone; kWh with up to 3 decimals. `.gz` files are decompressed on the fly.
 * Missing rows are missing readings (never zeros). Malformed rows are counted and skipped, never fatal.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { GatewayError } from '../../gateway/errors.ts';
import { parseWallClock } from '../../gateway/time/zoned.ts';

export interface ConsumptionRow {
  /** End of the interval, epoch ms. */
  end: number;
  wh: number;
}

export interface ConsumptionData {
  /** Rows per household, sorted by end, duplicates removed. */
  households: Map<string, ConsumptionRow[]>;
  malformedRows: number;
  duplicateRows: number;
  /** Most common spacing between consecutive rows of a household, in ms (the data's interval length). */
  resolutionMs: number | undefined;
}

const HEADER = 'customer_id,reading_datetime,general_supply_kwh';
const KWH = /^\d{1,7}(\.\d{1,3})?$/;

/** Reads the rows of the given households (all households when `only` is undefined). */
export async function readConsumptionCsv(
  file: string,
  timeZone: string,
  only?: ReadonlySet<string>,
): Promise<ConsumptionData> {
  const raw = createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const households = new Map<string, ConsumptionRow[]>();
  let malformedRows = 0;
  let line = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++;
      if (line === 1) {
        if (text.trim().replace(/^\uFEFF/, '') !== HEADER) {
          throw new GatewayError('CSV_MALFORMED', `${file}: first line must be "${HEADER}"`);
        }
        continue;
      }
      if (text.trim() === '') continue;
      const [id, when, kwh, extra] = text.split(',');
      if (id === undefined || when === undefined || kwh === undefined || extra !== undefined) {
        malformedRows++;
        continue;
      }
      if (only && !only.has(id)) continue;
      const end = parseWallClock(when, timeZone);
      if (end === undefined || !KWH.test(kwh.trim())) {
        malformedRows++;
        continue;
      }
      let rows = households.get(id);
      if (!rows) households.set(id, (rows = []));
      rows.push({ end, wh: Math.round(Number(kwh) * 1000) });
    }
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    throw new GatewayError('CSV_MALFORMED', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  let duplicateRows = 0;
  const gaps = new Map<number, number>();
  for (const rows of households.values()) {
    rows.sort((a, b) => a.end - b.end);
    for (let i = rows.length - 1; i > 0; i--) {
      const gap = rows[i]!.end - rows[i - 1]!.end;
      if (gap === 0) {
        rows.splice(i, 1);
        duplicateRows++;
      } else {
        gaps.set(gap, (gaps.get(gap) ?? 0) + 1);
      }
    }
  }
  const resolutionMs = [...gaps.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return { households, malformedRows, duplicateRows, resolutionMs };
}
