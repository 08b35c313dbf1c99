/**
 * npm run bench — the performance figures of docs/performance.md, measured side by side in one run:
 * 1. encryption alone, per engine (djn, native, paillier-bigint), CPU per encryption and latency; decryption
 *    alone, per method (CRT as in the reference MDMS, the definition, paillier-bigint);
 * 2. the whole pipeline, per engine: replay driver → encryption → SQLite → aggregation → signed batches → a real
 *    local broker (Mosquitto when installed, else the embedded one) → the reference MDMS (its own process) → ack.
 * Each pipeline run is a process of its own (its peak RSS is its own). Output: a table on stdout, and
 * bench/results/latest.{json,md,svg}.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchDecryption,
  benchEncryption,
  type DecryptionResult,
  type EncryptionResult,
} from './lib/bench/encryption.ts';
import { benchNoise, type NoiseResult } from './lib/bench/noise.ts';
import { chartSvg, decryptionTable, encryptionTable, pipelineTable } from './lib/bench/report.ts';
import { build, makeKeys, ROOT, runCompiled, startBroker, startMdmsProcess } from './lib/bench/peers.ts';
import type { RunResult, RunSpec } from './lib/bench/run-pipeline.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { FIXTURE_CSV, readFixture } from './lib/reference-sums.ts';

const HELP = `Usage: npm run bench [-- options]

  --meters LIST          emulated meters per pipeline run, e.g. 100,2000 (default 2000; 100 to 5000)
  --days N               days of half-hourly data per meter (1 to 3, default 1)
  --bits LIST            key sizes (default 2048,3072)
  --baseline-meters N    meters for the paillier-bigint pipeline run, which is ~100x slower (default 10)
  --quick                a short run: --meters 100 --baseline-meters 4, fewer encryption samples
  --pipeline-only        only the tuned engine's pipeline runs (no micro-benchmarks, no baseline run)
  --wal-pages N          buffer.walCheckpointPages of the pipeline runs (SD-card write experiments)
  -h, --help             show this help`;

function list(text: string): number[] {
  return text.split(',').map((s) => Number(s.trim()));
}

async function pipelineRun(spec: RunSpec): Promise<RunResult> {
  const mdms = startMdmsProcess({
    brokerUrl: spec.brokerUrl,
    keyDir: spec.keyDir,
    gatewayId: 'gw-bench',
    dbFile: path.join(mkdtempSync(path.join(tmpdir(), 'bench-mdms-')), 'mdms.sqlite'),
  });
  await new Promise((r) => setTimeout(r, 1500));
  try {
    const child = runCompiled('scripts/lib/bench/run-pipeline.js', [JSON.stringify(spec)]);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`pipeline run failed (${code}): ${err}`);
    return JSON.parse(out.trim().split('\n').at(-1)!) as RunResult;
  } finally {
    mdms.kill('SIGTERM');
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      meters: { type: 'string', default: '2000' },
      days: { type: 'string', default: '1' },
      bits: { type: 'string', default: '2048,3072' },
      'baseline-meters': { type: 'string', default: '10' },
      quick: { type: 'boolean', default: false },
      'pipeline-only': { type: 'boolean', default: false },
      'wal-pages': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const meters = list(values.quick ? '100' : values.meters);
  const baselineMeters = Number(values.quick ? '4' : values['baseline-meters']);
  const days = Number(values.days);
  const bitsList = list(values.bits);
  const walPages = values['wal-pages'] === undefined ? undefined : Number(values['wal-pages']);
  if (walPages !== undefined && !(walPages >= 100 && walPages <= 100_000)) {
    throw new UsageError('--wal-pages: 100 to 100000', HELP);
  }
  if (meters.some((m) => !(m >= 1 && m <= 5000))) throw new UsageError('--meters: 1 to 5000 each', HELP);
  if (!(days >= 1 && days <= 3)) throw new UsageError('--days: 1 to 3', HELP);
  if (bitsList.some((b) => b !== 2048 && b !== 3072)) throw new UsageError('--bits: 2048 and/or 3072', HELP);

  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, Node ${machine.node}`,
  );
  console.log('building (npm run build) so that the measured gateway runs compiled JavaScript');
  build();
  const broker = await startBroker();
  console.log(`broker: ${broker.kind} at ${broker.url}`);
  const households = [...new Set(readFixture().map((r) => r.household))];
  const encryption: EncryptionResult[] = [];
  const decryption: DecryptionResult[] = [];
  const noise: NoiseResult[] = [];
  const pipeline: RunResult[] = [];
  try {
    for (const bits of bitsList) {
      console.log(`\n${bits} bits: generating keys`);
      const { dir, key } = await makeKeys(bits);
      const micro = values['pipeline-only']
        ? []
        : ([
            ['djn', 500],
            ['native', 50],
            ['paillier-bigint', 20],
          ] as const);
      for (const [engine, samples] of micro) {
        const r = await benchEncryption(
          key.publicKey,
          engine,
          values.quick ? Math.ceil(samples / 5) : samples,
        );
        console.log(`  encryption ${engine}: ${r.cpuMsPerEncryption.toFixed(3)} CPU ms each`);
        encryption.push(r);
      }
      if (!values['pipeline-only']) {
        const n = await benchNoise(key.publicKey, values.quick ? 10 : 50);
        console.log(
          `  noise per release: ${n.cpuMsPerDraw.toFixed(3)} CPU ms per draw, ` +
            `${n.cpuMsPerRelease.toFixed(3)} CPU ms with its encryption`,
        );
        noise.push(n);
      }
      const dec = values['pipeline-only'] ? [] : await benchDecryption(key, values.quick ? 5 : 20);
      for (const d of dec)
        console.log(`  decryption ${d.method}: ${d.cpuMsPerDecryption.toFixed(2)} CPU ms each`);
      decryption.push(...dec);
      const runs: [RunSpec['engine'], number][] = [
        ...meters.map((m) => ['djn', m] as [RunSpec['engine'], number]),
        ...(values['pipeline-only']
          ? []
          : [['paillier-bigint', baselineMeters] as [RunSpec['engine'], number]]),
      ];
      for (const [engine, count] of runs) {
        console.log(`  pipeline ${engine}, ${count} meters × ${days} day(s)...`);
        const r = await pipelineRun({
          bits,
          engine,
          meters: count,
          days,
          keyDir: dir,
          brokerUrl: broker.url,
          protocolVersion: broker.protocolVersion,
          csv: FIXTURE_CSV,
          households,
          start: '2012-10-09T00:00:00Z',
          ...(walPages ? { walCheckpointPages: walPages } : {}),
        });
        console.log(
          `    ${r.readings} readings, ${r.readingsPerCpuSecond.toFixed(0)} readings per CPU-second, peak RSS ${r.peakRssMb.toFixed(0)} MB, ${(r.sqliteBytesPerMeterDay / 1000).toFixed(0)} kB SQLite writes per meter-day`,
        );
        pipeline.push(r);
      }
    }
  } finally {
    await broker.close();
  }

  const md = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, Node ${machine.node}, ${machine.platform}. Broker: ${broker.kind}.`,
    '',
    '### Encryption alone (one thread, randomizer computed inside each call)',
    '',
    encryptionTable(encryption),
    '',
    '### Noise per neighbourhood release (default ε, once per neighbourhood and interval)',
    '',
    ...noise.map(
      (n) =>
        `${n.bits} bits: ${n.cpuMsPerDraw.toFixed(3)} CPU ms per discrete Gaussian draw, ` +
        `${n.cpuMsPerRelease.toFixed(3)} CPU ms with its encryption (${n.samples} samples)`,
    ),
    '',
    '### Decryption at the MDMS',
    '',
    decryptionTable(decryption),
    '',
    `### Whole pipeline (${days} day(s) of half-hourly readings per meter; CPU includes the pool's worker thread)`,
    '',
    pipelineTable(pipeline),
    '',
  ].join('\n');
  console.log(`\n${md}`);
  const out = path.join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'latest.json'),
    `${JSON.stringify({ machine, broker: broker.kind, encryption, noise, decryption, pipeline }, null, 2)}\n`,
  );
  writeFileSync(path.join(out, 'latest.md'), md);
  writeFileSync(path.join(out, 'latest.svg'), chartSvg(encryption, pipeline));
  console.log(`wrote bench/results/latest.{json,md,svg}`);
}

runCli(main);
