/**
 * What `npm run soak` watches while the gateway runs, from the outside as an operator would: the gateway's
 * Prometheus endpoint (readings, buffer, memory), the kernel's accounting of its process (CPU, resident memory)
 * and the MDMS's database (how far behind the released intervals are).
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface Sample {
  /** Real seconds since the first boundary was published. */
  t: number;
  readingsAccepted: number;
  pendingReadings: number;
  outboxRecords: number;
  batches: number;
  rssMb: number;
  heapUsedMb: number;
  /** CPU seconds of the gateway process (all threads) so far. */
  cpuSeconds: number;
  /** Virtual minutes between the gateway's clock and the last interval end the MDMS holds (null: none yet). */
  lagMinutes: number | null;
}

/** The unlabelled samples of a Prometheus text exposition, by metric name. */
export function prometheusValues(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) (\S+)$/.exec(line);
    if (m) values.set(m[1]!, Number(m[2]));
  }
  return values;
}

/** utime + stime of a process, in seconds (proc(5): fields 14 and 15, in clock ticks of 1/100 s on Linux). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function takeSample(o: {
  metricsUrl: string;
  pid: number;
  mdmsDb: string;
  t: number;
  virtualNow: number;
}): Promise<Sample> {
  const text = await (await fetch(o.metricsUrl)).text();
  const v = prometheusValues(text);
  const get = (name: string) => {
    const value = v.get(name);
    if (value === undefined) throw new Error(`${o.metricsUrl} has no ${name}`);
    return value;
  };
  return {
    t: o.t,
    readingsAccepted: get('meterspace_readings_accepted_total'),
    pendingReadings: get('meterspace_buffer_pending_readings'),
    outboxRecords: get('meterspace_outbox_records'),
    batches: get('meterspace_outbox_batches'),
    rssMb: get('meterspace_memory_rss_bytes') / 2 ** 20,
    heapUsedMb: get('meterspace_memory_heap_used_bytes') / 2 ** 20,
    cpuSeconds: processCpuSeconds(o.pid),
    lagMinutes: lastReleased(o.mdmsDb, o.virtualNow),
  };
}

function lastReleased(file: string, virtualNow: number): number | null {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare('SELECT max(interval_end) AS last FROM aggregates').get() as {
      last: string | null;
    };
    return row.last === null ? null : (virtualNow - Date.parse(row.last)) / 60_000;
  } catch {
    return null; // the MDMS has not created its database yet
  } finally {
    db?.close();
  }
}
