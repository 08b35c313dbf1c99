/**
 * `scripts/mdms export --what bills` on a real MDMS database, run as an operator runs it: band totals for bills
 * that reveal them, the exact amount due for cost-only bills, and no Wh columns when nothing reveals any.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/buffer/database.ts';
import { MDMS_MIGRATIONS, MdmsStore, openMdmsDb, type BillRow } from '../../scripts/lib/mdms/store.ts';
import { runCli } from '../helpers/run-cli.ts';

const MDMS_BIN = path.resolve(import.meta.dirname, '../../scripts/mdms');

const base = { gateway: 'gw-1', period_start: '2012-10-10T00:00:00Z', period_end: '2012-10-11T00:00:00Z' };
const bandsBill: BillRow = {
  ...base,
  record_id: 'bill:ACC-1',
  account: 'ACC-1',
  intervals: 48,
  reveal: 'bands',
  total_wh: 10_864,
  bands: JSON.stringify({ peak: 7_654, offpeak: 3_210 }),
  amount: null,
  prices: null,
};
const costBill: BillRow = {
  ...base,
  record_id: 'bill:ACC-2',
  account: 'ACC-2',
  intervals: 47,
  reveal: 'cost-only',
  total_wh: null,
  bands: null,
  amount: '2.681400001',
  prices: JSON.stringify({ peak: '0.3', offpeak: '0.12' }),
};

function database(bills: BillRow[]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mdms-export-')), 'mdms.sqlite');
  const store = new MdmsStore(openMdmsDb(file));
  store.saveBatch({ batchId: 'b1', gateway: 'gw-1', seq: 1, bodyDigest: 'd', receivedAt: 0 }, [], [], bills);
  store.db.close();
  return file;
}

const exportBills = async (db: string, ...extra: string[]) => {
  const run = await runCli(MDMS_BIN, ['export', '--db', db, '--what', 'bills', ...extra]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim().split('\n');
};

describe('scripts/mdms export --what bills', () => {
  it('shows only the amount of cost-only bills: their Wh are unknown', async () => {
    expect(await exportBills(database([costBill]))).toEqual([
      'gateway,account,period_start,period_end,intervals,amount',
      'gw-1,ACC-2,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,47,2.681400001',
    ]);
  });

  it('leaves the Wh cells of a cost-only bill empty next to bills with band totals', async () => {
    const db = database([bandsBill, costBill]);
    expect(await exportBills(db)).toEqual([
      'gateway,account,period_start,period_end,intervals,total_wh,peak_wh,offpeak_wh,amount',
      'gw-1,ACC-1,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,48,10864,7654,3210,',
      'gw-1,ACC-2,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,47,,,,2.681400001',
    ]);
    // --prices prices the bands bills here; a cost-only bill keeps the amount its gateway computed.
    expect((await exportBills(db, '--prices', 'peak=0.3,offpeak=0.12')).slice(1)).toEqual([
      'gw-1,ACC-1,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,48,10864,7654,3210,2.68',
      'gw-1,ACC-2,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,47,,,,2.681400001',
    ]);
  });

  it('is unchanged for bills with band totals only', async () => {
    expect(await exportBills(database([bandsBill]))).toEqual([
      'gateway,account,period_start,period_end,intervals,total_wh,peak_wh,offpeak_wh',
      'gw-1,ACC-1,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,48,10864,7654,3210',
    ]);
  });

  it('keeps the bills of a database from before cost-only bills (schema 1)', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mdms-export-')), 'mdms.sqlite');
    const old = openDatabase(file, { synchronous: 'FULL' }, MDMS_MIGRATIONS.slice(0, 1));
    old
      .prepare('INSERT INTO bills VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run('bill:ACC-1', 'gw-1', 'ACC-1', base.period_start, base.period_end, 48, 10_864, bandsBill.bands);
    old.close();
    expect((await exportBills(file)).slice(1)).toEqual([
      'gw-1,ACC-1,2012-10-10T00:00:00Z,2012-10-11T00:00:00Z,48,10864,7654,3210',
    ]);
    const store = new MdmsStore(openMdmsDb(file));
    expect(store.bills()).toEqual([bandsBill]);
    store.db.close();
  });
});
