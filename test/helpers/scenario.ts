/**
 * An end-to-end scenario: keys, a slice of the real data, a gateway config file, the gateway as a child process
 * (scripts/gateway, exactly as a technician runs it) and the reference MDMS in-process on a real SQLite file.
 */
export { waitFor } from './wait.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { silentLogger } from '../../gateway/observe/log.ts';
import { MdmsReceiver, type MdmsOptions } from '../../scripts/lib/mdms/receiver.ts';
import { MdmsStore, openMdmsDb } from '../../scripts/lib/mdms/store.ts';
import {
  REFERENCE_BANDS,
  expectedOutcome,
  readFixture,
  writeSlice,
  type Expected,
  type Row,
  type TestMeter,
} from './consumption.ts';
import type { KeySet } from './keys.ts';

export const GATEWAY_BIN = path.resolve(import.meta.dirname, '../../scripts/gateway');
export const GATEWAY_ID = 'gw-test';

/** 12 households: north (5), east (5), tiny (2, always below k = 5). */
export const TEST_METERS: TestMeter[] = [
  ['10006414', 'north'],
  ['10006572', 'north'],
  ['10006630', 'north'],
  ['10006664', 'north'],
  ['10006674', 'north'],
  ['10006684', 'east'],
  ['10006694', 'east'],
  ['10006704', 'east'],
  ['10017458', 'east'],
  ['10017462', 'east'],
  ['10017472', 'tiny'],
  ['10017476', 'tiny'],
].map(([household, neighbourhood], i) => ({
  id: `m${String(i + 1).padStart(2, '0')}`,
  household: household!,
  neighbourhood: neighbourhood!,
  account: `ACC-${String(i + 1).padStart(3, '0')}`,
}));

export interface ScenarioOptions {
  keys: KeySet;
  brokerUrl: string;
  /** Data window [from, to) as ISO instants (UTC). */
  from: string;
  to: string;
  speed: number;
  k?: number;
  meters?: TestMeter[];
  upstream?: Record<string, unknown>;
  /** A meter's source other than replay (emulated protocol meters); undefined keeps replay. */
  sourceOf?: (m: TestMeter) => Record<string, unknown> | undefined;
  /** Driver sections besides replay (serial ports, the meter broker). */
  drivers?: Record<string, unknown>;
  /** Real instant at which the virtual clock reads `from` (shared with emulators). */
  anchor?: string;
  /** Key-file settings besides the three every gateway has (e.g. enrolmentCodes). */
  keysExtra?: Record<string, string>;
  /** Aggregation and billing grace (default 240 and 300 minutes). */
  graceMinutes?: { intervals: number; billing: number };
  /** Billing settings besides period, grace and bands (e.g. reveal); `prices` adds a price to each band. */
  billing?: { reveal?: 'bands' | 'cost-only'; prices?: Record<string, number> };
}

export interface Scenario {
  dir: string;
  configFile: string;
  logFile: string;
  dbFile: string;
  rows: Row[];
  expected: Expected;
}

export function makeScenario(o: ScenarioOptions): Scenario {
  const dir = mkdtempSync(path.join(tmpdir(), 'scenario-'));
  const meters = o.meters ?? TEST_METERS;
  const k = o.k ?? 5;
  const csv = path.join(dir, 'slice.csv');
  const rows = writeSlice(
    readFixture(),
    meters.map((m) => m.household),
    Date.parse(o.from),
    Date.parse(o.to),
    csv,
  );
  const config = {
    gateway: {
      id: GATEWAY_ID,
      dataDir: path.join(dir, 'var'),
      logLevel: 'debug',
      logFile: path.join(dir, 'gateway.log'),
    },
    clock: { mode: 'virtual', start: o.from, speed: o.speed, ...(o.anchor ? { anchor: o.anchor } : {}) },
    privacy: { k, kFloor: 2 },
    intervals: { minutes: 30, graceMinutes: o.graceMinutes?.intervals ?? 240 },
    billing: {
      period: 'daily',
      graceMinutes: o.graceMinutes?.billing ?? 300,
      bands: REFERENCE_BANDS.map((band) => ({ ...band, price: o.billing?.prices?.[band.name] })),
      ...(o.billing?.reveal ? { reveal: o.billing.reveal } : {}),
    },
    encryption: { engine: 'native', maxWhPerReading: 20000, maxMetersPerNeighbourhood: 1000 },
    keys: {
      supplierPublic: o.keys.files.supplierPublic,
      gatewayPrivate: o.keys.files.gatewayPrivate,
      mdmsPublic: o.keys.files.mdmsPublic,
      ...o.keysExtra,
    },
    upstream: {
      url: o.brokerUrl,
      schedule: '* * * * * *',
      retryInitialSeconds: 1,
      retryMaxSeconds: 3,
      ...o.upstream,
    },
    drivers: { replay: { file: csv, pollMs: 50 }, ...o.drivers },
    neighbourhoods: [...new Set(meters.map((m) => m.neighbourhood))].map((id) => ({ id })),
    meters: meters.map((m) => ({
      id: m.id,
      neighbourhood: m.neighbourhood,
      account: m.account,
      source: o.sourceOf?.(m) ?? { driver: 'replay', household: m.household },
    })),
  };
  const configFile = path.join(dir, 'gateway.yaml');
  writeFileSync(configFile, stringify(config));
  return {
    dir,
    configFile,
    logFile: config.gateway.logFile,
    dbFile: path.join(config.gateway.dataDir, 'buffer.sqlite'),
    rows,
    expected: expectedOutcome(rows, meters, k),
  };
}

export interface GatewayProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts scripts/gateway on `configFile`, with `args` after it (e.g. --accept-data-loss). */
export function spawnGateway(configFile: string, args: readonly string[] = []): GatewayProcess {
  const child = spawn(GATEWAY_BIN, ['--config', configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // Kept beside the configuration too, for a post-mortem of a failed run (a crash prints to stderr only).
  const keep = path.join(path.dirname(configFile), 'gateway.out');
  const record = (d: Buffer) => {
    out += d.toString();
    appendFileSync(keep, d);
  };
  child.stdout.on('data', record);
  child.stderr.on('data', record);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export async function startMdms(
  url: string,
  keys: KeySet,
  dbFile: string,
  extra: Partial<Pick<MdmsOptions, 'clientOptions' | 'log'>> = {},
) {
  const store = new MdmsStore(openMdmsDb(dbFile));
  const receiver = new MdmsReceiver({
    url,
    prefix: 'meterspace/v1',
    trust: new Map([[GATEWAY_ID, keys.gatewayPublicKey]]),
    supplierKey: keys.supplier,
    signing: keys.mdmsSigning,
    store,
    log: silentLogger(),
    ...extra,
  });
  await receiver.start();
  return { store, receiver };
}

/** True when the MDMS holds every expected group decision and bill. */
export function mdmsComplete(store: MdmsStore, expected: Expected): boolean {
  const c = store.counts();
  return (
    c.aggregates >= expected.aggregates.size &&
    c.suppressed >= expected.suppressed.size &&
    c.bills >= expected.bills.size
  );
}
