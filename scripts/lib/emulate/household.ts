/**
 * The recorded household an emulated meter presents: its rows from a consumption CSV (the committed fixture by
 * default) as a RegisterModel, and the span of time they cover.
 */
import { readConsumptionCsv } from '../../../drivers/replay/consumption-csv.ts';
import { FIXTURE_CSV } from '../reference-sums.ts';
import { RegisterModel } from './register-model.ts';

export interface HouseholdOptions {
  csv?: string;
  /** `customer_id` in the CSV; default the first household in it. */
  household?: string;
  /** Zone of the CSV's wall-clock times. */
  timeZone: string;
  /** The register's value before the first recorded interval, Wh. */
  initialWh: number;
}

export interface Household {
  id: string;
  register: RegisterModel;
  intervalMs: number;
}

export async function loadHousehold(opts: HouseholdOptions): Promise<Household> {
  const file = opts.csv ?? FIXTURE_CSV;
  const only = opts.household === undefined ? undefined : new Set([opts.household]);
  const data = await readConsumptionCsv(file, opts.timeZone, only);
  const id = opts.household ?? [...data.households.keys()][0];
  const rows = id === undefined ? undefined : data.households.get(id);
  if (id === undefined || !rows || rows.length === 0) {
    throw new Error(`household ${opts.household ?? '(any)'} has no rows in ${file}`);
  }
  const intervalMs = data.resolutionMs ?? 30 * 60_000;
  return { id, register: new RegisterModel(rows, intervalMs, opts.initialWh), intervalMs };
}
