/**
 * One benchmark run, in a process of its own so that its peak RSS is its own: the real gateway (composition root
 * in manual mode) replays `meters` emulated meters for `days` days as fast as the CPU allows — replay driver,
 * validation, encryption, SQLite, aggregation, billing, signed batches, publish to the broker — and waits for the
 * MDMS (another process) to acknowledge everything. Prints one JSON line with the measurements.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Gateway } from '../../../gateway/gateway.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { REFERENCE_BANDS } from '../reference-sums.ts';
import { mulmodMicros } from './machine-speed.ts';

export interface RunSpec {
  bits: number;
  engine: 'djn' | 'native' | 'paillier-bigint';
  meters: number;
  days: number;
  keyDir: string;
  brokerUrl: string;
  /** upstream.protocolVersion for this broker (BrokerPeer.protocolVersion). */
  protocolVersion: 4 | 5;
  csv: string;
  households: string[];
  start: string;
  /** Overrides encryption.windowBits (memory/speed trade-off experiments). */
  windowBits?: number;
  /** Overrides buffer.walCheckpointPages (SD-card write experiments). */
  walCheckpointPages?: number;
}

export interface RunResult extends Omit<
  RunSpec,
  'keyDir' | 'brokerUrl' | 'protocolVersion' | 'csv' | 'households'
> {
  readings: number;
  cpuMs: number;
  wallMs: number;
  readingsPerCpuSecond: number;
  cpuMsPerReading: number;
  /** CPU µs of one n²-sized modular multiplication, measured just before and after the run (machine speed). */
  refMulmodUs: number;
  /** The run's CPU per reading in units of that multiplication: a machine-independent cost. */
  mulmodsPerReading: number;
  intakeLatencyMs: { p50: number; p90: number; p99: number; max: number } | undefined;
  peakRssMb: number;
  sqliteBytesPerMeterDay: number;
  upstreamBytesPerMeterDay: number;
  batches: number;
  pool: unknown;
}

/** Bytes this process has caused to be written to storage (Linux /proc/self/io). */
function writeBytes(): number {
  const m = /write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : 0;
}

const INTERVAL_MS = 30 * 60_000;

async function run(spec: RunSpec): Promise<RunResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
  const perNeighbourhood = 50;
  const meters = Array.from({ length: spec.meters }, (_, i) => ({
    id: `m${i}`,
    neighbourhood: `nb${Math.floor(i / perNeighbourhood)}`,
    account: `acc${i}`,
    source: { driver: 'replay', household: spec.households[i % spec.households.length]! },
  }));
  const config = validateConfig({
    gateway: { id: 'gw-bench', dataDir: dir },
    intervals: { minutes: 30, graceMinutes: 0 },
    billing: {
      period: 'daily',
      graceMinutes: 0,
      bands: REFERENCE_BANDS,
    },
    encryption: {
      engine: spec.engine,
      maxMetersPerNeighbourhood: perNeighbourhood,
      ...(spec.windowBits ? { windowBits: spec.windowBits } : {}),
    },
    keys: {
      supplierPublic: path.join(spec.keyDir, 'supplier.paillier.pub.json'),
      gatewayPrivate: path.join(spec.keyDir, 'gateway.ed25519.key.pem'),
      mdmsPublic: path.join(spec.keyDir, 'mdms.ed25519.pub.pem'),
    },
    upstream: {
      url: spec.brokerUrl,
      protocolVersion: spec.protocolVersion,
      clientId: `gw-bench-${process.pid}`,
      retryInitialSeconds: 1,
      retryMaxSeconds: 2,
    },
    drivers: { replay: { file: spec.csv } },
    ...(spec.walCheckpointPages ? { buffer: { walCheckpointPages: spec.walCheckpointPages } } : {}),
    neighbourhoods: [...new Set(meters.map((m) => m.neighbourhood))].map((id) => ({ id })),
    meters,
  });
  const start = Date.parse(spec.start);
  const clock = new ManualClock(start);
  const gateway = new Gateway({ config, log: silentLogger(), clock, manual: true });
  await gateway.start();
  await gateway.warmEngine(1024);

  const mulmodBefore = mulmodMicros(spec.bits);
  const io0 = writeBytes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const intervals = spec.days * 48;
  for (let i = 1; i <= intervals; i++) {
    clock.set(start + i * INTERVAL_MS);
    gateway.pollDrivers();
    gateway.runOnce();
    // Yield once per interval, as a running gateway does, so the pool's worker replies are received.
    await new Promise((r) => setImmediate(r));
  }
  // Close the last bills and wait until the MDMS has acknowledged every batch.
  clock.set(start + intervals * INTERVAL_MS + 60_000);
  gateway.runOnce();
  const deadline = Date.now() + 30 * 60_000;
  while (gateway.outboxCounts().batches > 0 || gateway.outboxCounts().records > 0) {
    if (Date.now() > deadline)
      throw new Error(`MDMS did not acknowledge: ${JSON.stringify(gateway.outboxCounts())}`);
    gateway.runOnce();
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const written = writeBytes() - io0;
  const readings = gateway.metrics.get('readings.accepted');
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const refMulmodUs = (mulmodBefore + mulmodMicros(spec.bits)) / 2;
  const result: RunResult = {
    bits: spec.bits,
    engine: spec.engine,
    meters: spec.meters,
    days: spec.days,
    start: spec.start,
    readings,
    cpuMs,
    wallMs,
    readingsPerCpuSecond: readings / (cpuMs / 1000),
    cpuMsPerReading: cpuMs / readings,
    refMulmodUs,
    mulmodsPerReading: (cpuMs * 1000) / readings / refMulmodUs,
    intakeLatencyMs: gateway.metrics.percentiles('intake.latency_ms'),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    sqliteBytesPerMeterDay: written / (spec.meters * spec.days),
    upstreamBytesPerMeterDay: gateway.metrics.get('batches.bytes') / (spec.meters * spec.days),
    batches: gateway.metrics.get('batches.created'),
    pool: gateway.engineDetails(),
  };
  await gateway.stop();
  return result;
}

const spec = JSON.parse(process.argv[2]!) as RunSpec;
run(spec).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  },
);
