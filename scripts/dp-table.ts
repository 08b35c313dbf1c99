/**
 * Prints the table of docs/privacy.md §Noise: the 95th-percentile (and median) relative error of a noisy
 * half-hourly neighbourhood sum by neighbourhood size and ε per day, on the SGSC data (`npm run dp-table`).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { errorTable, markdown } from './lib/dp/error-table.ts';

const { values } = parseArgs({
  options: {
    data: {
      type: 'string',
      default: path.resolve(import.meta.dirname, '../../shared/data/consumption/sgsc_households.csv.gz'),
    },
    clip: { type: 'string', default: '2000' },
    days: { type: 'string', default: '200' },
  },
});
const epsilons = [10, 30, 100, 300, 1000];
const cells = errorTable({
  file: values.data,
  sizes: [5, 20, 100, 500],
  epsilons,
  clipWh: Number(values.clip),
  deltaPerDay: 1e-6,
  days: Number(values.days),
});
process.stdout.write(
  `Half-hourly sums, clipWh ${values.clip}, δ = 1e-6 per day, ${values.days} neighbourhood-days per size; ` +
    `95th percentile of |release − exact| / exact (median in brackets):\n\n${markdown(cells, epsilons)}`,
);
