/** CSV and table output of what the reference MDMS stored. */
import type { AggregateRow, BillRow, SuppressedRow } from './store.ts';

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function bandNames(rows: { bands: string | null }[]): string[] {
  const names = new Set<string>();
  for (const r of rows) if (r.bands) for (const k of Object.keys(JSON.parse(r.bands) as object)) names.add(k);
  return [...names];
}

/**
 * Released sums with their error: total_wh is the noisy sum of clipped readings, ± bound95_wh its 95 % interval
 * (docs/privacy.md §Noise); epsilon_per_day the budget it was released under. Rows of v1 records (exact, no noise)
 * have empty noise cells and their band columns.
 */
export function aggregatesCsv(rows: AggregateRow[]): string {
  const bands = bandNames(rows);
  const head = [
    'gateway',
    'neighbourhood',
    'interval_start',
    'interval_end',
    'meters',
    'k',
    'total_wh',
    'bound95_wh',
    'clip_wh',
    'epsilon_per_day',
    ...bands.map((b) => `${b}_wh`),
  ];
  const lines = rows.map((r) => {
    const b = r.bands ? (JSON.parse(r.bands) as Record<string, number>) : {};
    const noise = r.noise ? (JSON.parse(r.noise) as { clipWh: number; epsilonPerDay: number }) : undefined;
    return [
      r.gateway,
      r.neighbourhood,
      r.interval_start,
      r.interval_end,
      r.meters,
      r.k,
      r.total_wh,
      r.bound95_wh === null ? '' : Math.ceil(r.bound95_wh),
      noise?.clipWh ?? '',
      noise?.epsilonPerDay ?? '',
      ...bands.map((n) => b[n] ?? ''),
    ];
  });
  return [head, ...lines].map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

/**
 * Bills with their band totals, and an amount: the exact amount due of a cost-only bill (its only content: no Wh
 * columns when every bill is cost-only, empty Wh cells otherwise), or for a bands bill the amount priced here
 * with `prices`.
 */
export function billsCsv(rows: BillRow[], prices?: ReadonlyMap<string, number>): string {
  const bands = bandNames(rows);
  const withWh = rows.length === 0 || rows.some((r) => r.reveal === 'bands');
  const withAmount = prices !== undefined || rows.some((r) => r.reveal === 'cost-only');
  const head = ['gateway', 'account', 'period_start', 'period_end', 'intervals'];
  if (withWh) head.push('total_wh', ...bands.map((b) => `${b}_wh`));
  if (withAmount) head.push('amount');
  const lines = rows.map((r) => {
    const b = r.bands ? (JSON.parse(r.bands) as Record<string, number>) : undefined;
    const line: (string | number)[] = [r.gateway, r.account, r.period_start, r.period_end, r.intervals];
    if (withWh) line.push(r.total_wh ?? '', ...bands.map((n) => b?.[n] ?? ''));
    if (withAmount) line.push(r.amount ?? (b && prices ? price(b, prices).toFixed(2) : ''));
    return line;
  });
  return [head, ...lines].map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

export function suppressedCsv(rows: SuppressedRow[]): string {
  const head = ['gateway', 'neighbourhood', 'interval_start', 'interval_end', 'k'];
  const lines = rows.map((r) => [r.gateway, r.neighbourhood, r.interval_start, r.interval_end, r.k]);
  return [head, ...lines].map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

/** Amount due: Σ band kWh × band price per kWh. */
export function price(bandsWh: Record<string, number>, prices: ReadonlyMap<string, number>): number {
  let amount = 0;
  for (const [band, wh] of Object.entries(bandsWh)) amount += (wh / 1000) * (prices.get(band) ?? 0);
  return amount;
}
