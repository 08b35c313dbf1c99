/**
 * From a verified batch's records and their plaintexts to the MDMS's rows: unpacks the slots (refusing bits
 * above the last slot and bands that do not add up to the total), decodes cost-only bills, checks k. How the
 * plaintext is obtained (the whole key's CRT decryption, or a split key's two partials) is the caller's.
 */
import { GatewayError } from '../../../gateway/errors.ts';
import { decimal } from '../../../gateway/encrypt/bigint.ts';
import { COST_GUARD_BITS, decodeCost, MASK_MARGIN_BITS, unpack } from '../../../gateway/encrypt/packing.ts';
import type { CostBillRecordMsg, LayoutMsg, UpRecordMsg } from '../../../gateway/protocol/messages.ts';
import type { AggregateRow, BillRow, SuppressedRow } from './store.ts';

/** A cost-only bill's cost is in 10⁻⁹ currency units (price per kWh in 10⁻⁶ units × Wh). */
const COST_DECIMALS = 9;

/** The plaintext of a record that carries a ciphertext. */
export type PlaintextOf = (record: Exclude<UpRecordMsg, { kind: 'suppressed' }>) => bigint;

export function recordRows(
  gateway: string,
  records: readonly UpRecordMsg[],
  plaintextOf: PlaintextOf,
  keyBits: number,
): readonly [AggregateRow[], SuppressedRow[], BillRow[]] {
  const aggregates: AggregateRow[] = [];
  const suppressed: SuppressedRow[] = [];
  const bills: BillRow[] = [];
  const open = (m: bigint, layout: LayoutMsg) => {
    const values = unpack(layout, m);
    const bands = Object.fromEntries(layout.slots.slice(1).map((name, i) => [name, Number(values[i + 1])]));
    if (values.some((v) => v > BigInt(Number.MAX_SAFE_INTEGER))) {
      throw new GatewayError('CIPHERTEXT_INVALID', 'a slot exceeds what this MDMS stores exactly (2^53 − 1)');
    }
    const total = Number(values[0]);
    if (Object.values(bands).reduce((a, b) => a + b, 0) !== total) {
      throw new GatewayError('CIPHERTEXT_INVALID', 'band slots do not add up to the total slot');
    }
    return { total, bands: JSON.stringify(bands) };
  };
  for (const r of records) {
    if (r.kind === 'aggregate') {
      if (r.meters < r.k)
        throw new GatewayError('MESSAGE_MALFORMED', `aggregate ${r.id} has fewer than k meters`);
      const { total, bands } = open(plaintextOf(r), r.layout);
      aggregates.push({
        record_id: r.id,
        gateway,
        neighbourhood: r.neighbourhood,
        interval_start: r.intervalStart,
        interval_end: r.intervalEnd,
        meters: r.meters,
        k: r.k,
        total_wh: total,
        bands,
      });
    } else if (r.kind === 'suppressed') {
      suppressed.push({
        record_id: r.id,
        gateway,
        neighbourhood: r.neighbourhood,
        interval_start: r.intervalStart,
        interval_end: r.intervalEnd,
        k: r.k,
      });
    } else {
      const bill = {
        record_id: r.id,
        gateway,
        account: r.account,
        period_start: r.periodStart,
        period_end: r.periodEnd,
        intervals: r.intervals,
      };
      if (r.reveal === 'cost-only') {
        const amount = amountOf(r, plaintextOf, keyBits);
        bills.push({ ...bill, reveal: 'cost-only', total_wh: null, bands: null, ...amount });
      } else {
        const { total, bands } = open(plaintextOf(r), r.layout);
        bills.push({ ...bill, reveal: 'bands', total_wh: total, bands, amount: null, prices: null });
      }
    }
  }
  return [aggregates, suppressed, bills] as const;
}

/** The amount due of a cost-only bill: the low `costBits` bits of its plaintext, after the guard-bit check. */
function amountOf(
  r: CostBillRecordMsg,
  plaintextOf: PlaintextOf,
  bits: number,
): { amount: string; prices: string } {
  // The cost, its guard bits and a mask of at least MASK_MARGIN_BITS bits must fit below n / 2.
  if (r.costBits + COST_GUARD_BITS + MASK_MARGIN_BITS + 1 > bits - 2) {
    throw new GatewayError(
      'MESSAGE_MALFORMED',
      `bill ${r.id}: costBits ${r.costBits} leaves no room for the guard bits and the mask under a ${bits}-bit key`,
    );
  }
  const cost = decodeCost(plaintextOf(r), r.costBits);
  return { amount: decimal(cost, COST_DECIMALS), prices: JSON.stringify(r.prices) };
}
