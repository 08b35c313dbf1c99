/**
 * npm run soak — the sustained-load run of docs/reliability.md: the compiled gateway (production V8 flags) reads
 * N emulated MQTT meters (default 2,000, the recorded households of the committed fixture repeated) that publish
 * their registers at every 1-minute boundary, for a given real duration, on a shared virtual clock (speed 1 is
 * real time; a higher speed shows the headroom). Mosquitto and the reference MDMS (its own process) complete the
 * chain. It samples the gateway as an operator would (Prometheus endpoint, /proc), then checks that:
 *   - every published sample became a reading (none lost, none refused),
 *   - every neighbourhood interval reached the MDMS with exactly the sum the meters published,
 *   - the gateway did not fall behind (release lag and buffer depth flat from the first quarter to the last),
 *   - memory stayed bounded (resident memory of the last quarter within a bound of the second quarter's).
 * Exits non-zero when a check fails. Output: a table on stdout and bench/results/soak-latest.{json,md}.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { readConsumptionCsv } from '../drivers/replay/consumption-csv.ts';
import { VirtualClock } from '../gateway/time/clock.ts';
import { build, makeKeys, ROOT, runCompiled, startBroker, startMdmsProcess } from './lib/bench/peers.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { RegisterModel } from './lib/emulate/register-model.ts';
import { FIXTURE_CSV, REFERENCE_BANDS } from './lib/reference-sums.ts';
import { MeterFleet, type FleetMeter } from './lib/soak/meter-fleet.ts';
import { takeSample, type Sample } from './lib/soak/sampler.ts';
import { judge, soakMarkdown } from './lib/soak/verdict.ts';
import { compareWithMdms } from './lib/soak/expected-sums.ts';

const HELP = `Usage: npm run soak [-- options]

  --meters N             emulated MQTT meters (default 2000)
  --minutes N            real minutes of load (default 30)
  --speed N              virtual seconds per real second (default 1: real time, one reading per meter per
                         real minute; 10 puts ten times the load on the gateway)
  --bits N               Paillier key size, 2048 or 3072 (default 3072)
  --per-neighbourhood N  meters per neighbourhood (default 50)
  --sample-seconds N     seconds between samples (default 10)
  --rss-growth-mb N      the memory check's bound (default 8)
  -h, --help             show this help`;

const GATEWAY_ID = 'gw-soak';
const INTERVAL_MS = 60_000;
const START = '2012-10-09T00:00:00Z';
/** Real seconds between starting the gateway and the first boundary: key loading, tables, subscriptions. */
const WARM_UP_SECONDS = 40;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      meters: { type: 'string', default: '2000' },
      minutes: { type: 'string', default: '30' },
      speed: { type: 'string', default: '1' },
      bits: { type: 'string', default: '3072' },
      'per-neighbourhood': { type: 'string', default: '50' },
      'sample-seconds': { type: 'string', default: '10' },
      'rss-growth-mb': { type: 'string', default: '8' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const meters = Number(values.meters);
  const minutes = Number(values.minutes);
  const speed = Number(values.speed);
  const bits = Number(values.bits);
  const perNeighbourhood = Number(values['per-neighbourhood']);
  const sampleSeconds = Number(values['sample-seconds']);
  const rssGrowthMb = Number(values['rss-growth-mb']);
  if (!(meters >= 10 && meters <= 5000)) throw new UsageError('--meters: 10 to 5000', HELP);
  if (!(minutes >= 2 && minutes <= 24 * 60)) throw new UsageError('--minutes: 2 to 1440', HELP);
  if (!(speed >= 1 && speed <= 120)) throw new UsageError('--speed: 1 to 120', HELP);
  if (bits !== 2048 && bits !== 3072) throw new UsageError('--bits: 2048 or 3072', HELP);
  if (!(perNeighbourhood >= 5 && perNeighbourhood <= 1000))
    throw new UsageError('--per-neighbourhood: 5 to 1000', HELP);
  if (!(sampleSeconds >= 1)) throw new UsageError('--sample-seconds: at least 1', HELP);

  const data = await readConsumptionCsv(FIXTURE_CSV, 'UTC');
  const households = [...data.households.entries()];
  const start = Date.parse(START);
  const end = start + Math.floor((minutes * 60_000 * speed) / INTERVAL_MS) * INTERVAL_MS;
  const covered = Math.min(...households.map(([, rows]) => Math.max(...rows.map((r) => r.end))));
  if (end > covered) {
    throw new UsageError(
      `the fixture's data ends at ${new Date(covered).toISOString()}: lower --minutes × --speed`,
      HELP,
    );
  }

  console.log(
    `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, Node ${process.version}`,
  );
  build();
  const broker = await startBroker();
  console.log(`broker: ${broker.kind} at ${broker.url}; generating ${bits}-bit keys`);
  const { dir: keyDir } = await makeKeys(bits);
  const dir = mkdtempSync(path.join(tmpdir(), 'soak-'));
  const mdmsDb = path.join(dir, 'mdms.sqlite');
  const mdms = startMdmsProcess({ brokerUrl: broker.url, keyDir, gatewayId: GATEWAY_ID, dbFile: mdmsDb });

  const fleet: FleetMeter[] = Array.from({ length: meters }, (_, i) => {
    const [, rows] = households[i % households.length]!;
    const id = `m${String(i).padStart(4, '0')}`;
    return {
      id,
      neighbourhood: `nb${String(Math.floor(i / perNeighbourhood)).padStart(3, '0')}`,
      topic: `soak/${id}`,
      register: new RegisterModel(rows, data.resolutionMs ?? 30 * 60_000, 1_000_000 + i * 1000),
    };
  });
  const anchor = Date.now() + WARM_UP_SECONDS * 1000;
  const metricsPort = 19_000 + (process.pid % 1000);
  const configFile = writeConfig({
    dir,
    keyDir,
    brokerUrl: broker.url,
    protocolVersion: broker.protocolVersion,
    fleet,
    anchor,
    speed,
    metricsPort,
  });
  const gateway = runCompiled('gateway/main.js', ['--config', configFile]);
  // Its stdout and stderr are kept beside its log: a crash (V8 out of memory) prints to stderr only.
  const gatewayOut = path.join(dir, 'gateway.out');
  gateway.stdout!.on('data', (d: Buffer) => appendFileSync(gatewayOut, d));
  gateway.stderr!.on('data', (d: Buffer) => appendFileSync(gatewayOut, d));
  const exited = () =>
    gateway.exitCode !== null || gateway.signalCode !== null
      ? `the gateway exited (${gateway.exitCode ?? gateway.signalCode}); see ${gatewayOut}:\n${tail(gatewayOut)}`
      : undefined;
  const clock = new VirtualClock(start, speed, undefined, anchor);
  const load = new MeterFleet({
    url: broker.url,
    meters: fleet,
    clock,
    speed,
    intervalMs: INTERVAL_MS,
    spreadMs: Math.min(20_000, (INTERVAL_MS / speed) * 0.3),
    from: start,
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const samples: Sample[] = [];
  // A scrape that fails because the gateway died says why it died.
  const sample = () =>
    takeSample({
      metricsUrl,
      pid: gateway.pid!,
      mdmsDb,
      t: (Date.now() - anchor) / 1000,
      virtualNow: clock.now(),
    }).catch(async (error: unknown) => {
      await new Promise((r) => setTimeout(r, 500));
      throw new Error(exited() ?? String(error));
    });
  try {
    await load.start();
    console.log(
      `${meters} meters, ${minutes} real minutes at speed ${speed}; first boundary in ${WARM_UP_SECONDS} s`,
    );
    const stopAt = anchor + minutes * 60_000;
    while (Date.now() < stopAt) {
      await new Promise((r) => setTimeout(r, sampleSeconds * 1000));
      if (exited()) throw new Error(exited());
      if (Date.now() < anchor) continue;
      const s = await sample();
      samples.push(s);
      if (samples.length % Math.max(1, Math.round(60 / sampleSeconds)) === 0) {
        console.log(
          `  ${(s.t / 60).toFixed(1)} min: ${s.readingsAccepted} readings, RSS ${s.rssMb.toFixed(1)} MB, ` +
            `heap ${s.heapUsedMb.toFixed(1)} MB, lag ${s.lagMinutes?.toFixed(1) ?? '-'} min, ` +
            `outbox ${s.outboxRecords}`,
        );
      }
    }
    await load.stop();
    // Let the last boundaries be released (grace, schedule) before comparing.
    const lastBoundary = load.boundaries.at(-1) ?? start;
    const settled = await waitForMdms(mdmsDb, fleet, load.boundaries, lastBoundary);
    const final = await sample();
    const verdict = judge({
      samples,
      final,
      // Each meter's first sample only starts its register series.
      expectedReadings: Math.max(0, load.published - meters),
      publishFailures: load.failed,
      sums: settled,
      rssGrowthMb,
      meters,
    });
    const md = soakMarkdown({ meters, minutes, speed, bits, samples, final, verdict, broker: broker.kind });
    console.log(`\n${md}`);
    const out = path.join(ROOT, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      path.join(out, 'soak-latest.json'),
      `${JSON.stringify({ meters, minutes, speed, bits, samples, final, verdict }, null, 2)}\n`,
    );
    writeFileSync(path.join(out, 'soak-latest.md'), md);
    console.log('wrote bench/results/soak-latest.{json,md}');
    if (verdict.some((v) => !v.ok)) process.exitCode = 1;
  } finally {
    await load.stop();
    gateway.kill('SIGTERM');
    mdms.kill('SIGTERM');
    await broker.close();
  }
}

/** Waits until the MDMS holds every interval of the published boundaries (or two minutes), then compares. */
async function waitForMdms(
  db: string,
  fleet: readonly FleetMeter[],
  boundaries: readonly number[],
  last: number,
) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const result = compareWithMdms(db, fleet, boundaries);
    if ((result.missing === 0 && result.lastEnd >= last) || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function writeConfig(o: {
  dir: string;
  keyDir: string;
  brokerUrl: string;
  protocolVersion: 4 | 5;
  fleet: readonly FleetMeter[];
  anchor: number;
  speed: number;
  metricsPort: number;
}): string {
  const config = {
    gateway: { id: GATEWAY_ID, dataDir: path.join(o.dir, 'var'), logFile: path.join(o.dir, 'gateway.log') },
    clock: { mode: 'virtual', start: START, speed: o.speed, anchor: new Date(o.anchor).toISOString() },
    intervals: { minutes: 1, graceMinutes: 1 },
    billing: { period: 'daily', graceMinutes: 5, bands: REFERENCE_BANDS },
    encryption: { maxMetersPerNeighbourhood: Math.max(50, ...countBy(o.fleet)) },
    keys: {
      supplierPublic: path.join(o.keyDir, 'supplier.paillier.pub.json'),
      gatewayPrivate: path.join(o.keyDir, 'gateway.ed25519.key.pem'),
      mdmsPublic: path.join(o.keyDir, 'mdms.ed25519.pub.pem'),
    },
    upstream: {
      url: o.brokerUrl,
      protocolVersion: o.protocolVersion,
      schedule: '*/5 * * * * *',
      retryInitialSeconds: 1,
      retryMaxSeconds: 5,
    },
    observe: { metrics: { listen: `127.0.0.1:${o.metricsPort}` } },
    drivers: { mqtt: { url: o.brokerUrl } },
    neighbourhoods: [...new Set(o.fleet.map((m) => m.neighbourhood))].map((id) => ({ id })),
    meters: o.fleet.map((m) => ({
      id: m.id,
      neighbourhood: m.neighbourhood,
      account: `acc-${m.id}`,
      source: { driver: 'mqtt', topic: m.topic, format: 'generic' },
    })),
  };
  const file = path.join(o.dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no output)';
  }
}

function countBy(fleet: readonly FleetMeter[]): number[] {
  const counts = new Map<string, number>();
  for (const m of fleet) counts.set(m.neighbourhood, (counts.get(m.neighbourhood) ?? 0) + 1);
  return [...counts.values()];
}

runCli(main);
