/**
 * npm run bench — the performance figures of docs/performance.md, measured side by side in one run:
 * 1. encryption alone, per engine (djn, native, paillier-bigint), CPU per encryption and latency; decryption
 *    alone, per method (CRT as in the reference MDMS, the definition, paillier-bigint);
 * 2. the whole pipeline, per engine: replay driver → encryption → SQLite → aggregation → signed batches → a real
 *    local broker (Mosquitto when installed, else the embedded one) → the reference MDMS (its own process) → ack.
 * Each pipeline run is a process of its own (its peak RSS is its own). Output: a table on stdout, and
 * bench/results/latest.{json,md,svg}.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeKeyFile } from '../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../gateway/keys/generate.ts';
import { paillierPrivateJson, paillierPublicJson } from '../gateway/keys/paillier-files.ts';
import {
  benchDecryption,
  benchEncryption,
  type DecryptionResult,
  type EncryptionResult,
} from './lib/bench/encryption.ts';
import { chartSvg, decryptionTable, encryptionTable, pipelineTable } from './lib/bench/report.ts';
import type { RunResult, RunSpec } from './lib/bench/run-pipeline.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { startEmbeddedBroker } from './lib/embedded-broker.ts';
import { FIXTURE_CSV, readFixture } from './lib/reference-sums.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
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

async function startBroker(): Promise<{ url: string; kind: string; close: () => Promise<void> }> {
  const mosquitto = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(
    (bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined,
  );
  if (!mosquitto) {
    const b = await startEmbeddedBroker();
    return {
      url: b.url,
      kind: 'embedded aedes (install mosquitto for the reference figures)',
      close: () => b.close(),
    };
  }
  const probe = await startEmbeddedBroker(); // only to find a free port
  const port = probe.port;
  await probe.close();
  const child = spawn(mosquitto, ['-p', String(port)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    kind: 'Mosquitto',
    close: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))),
  };
}

async function makeKeys(
  bits: number,
): Promise<{ dir: string; key: Awaited<ReturnType<typeof generatePaillier>> }> {
  const dir = mkdtempSync(path.join(tmpdir(), `bench-keys-${bits}-`));
  const key = await generatePaillier(bits);
  writeKeyFile(path.join(dir, 'supplier.paillier.key.json'), paillierPrivateJson(key), { secret: true });
  writeKeyFile(path.join(dir, 'supplier.paillier.pub.json'), paillierPublicJson(key.publicKey), {
    secret: false,
  });
  for (const who of ['gateway', 'mdms']) {
    const pair = generateSigningPair('ed25519');
    writeKeyFile(path.join(dir, `${who}.ed25519.key.pem`), pair.privatePem, { secret: true });
    writeKeyFile(path.join(dir, `${who}.ed25519.pub.pem`), pair.publicPem, { secret: false });
  }
  return { dir, key };
}

function runScript(entry: string, args: string[]): ReturnType<typeof spawn> {
  return spawn(path.join(ROOT, 'scripts/lib/run-ts'), [entry, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The V8 flags and malloc setting of the compiled gateway in production (`npm run start:compiled`, Pi guide §8). */
const PRODUCTION_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=40'];
/** `BENCH_PROF=DIR npm run bench` also writes V8 CPU profiles of the measured gateway (both threads) to DIR. */
const PROFILE_FLAGS = process.env.BENCH_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`]
  : [];
const PRODUCTION_ENV = { MALLOC_ARENA_MAX: '2' };

/**
 * The gateway side runs compiled (`npm run build`) with the production flags (`npm run start:compiled`): no
 * TypeScript loader in its memory, a small young generation and a capped old generation.
 */
function runCompiled(entry: string, args: string[]): ReturnType<typeof spawn> {
  return spawn(
    process.execPath,
    [...PRODUCTION_NODE_FLAGS, ...PROFILE_FLAGS, path.join(ROOT, 'dist', entry), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...PRODUCTION_ENV },
    },
  );
}

async function pipelineRun(spec: RunSpec): Promise<RunResult> {
  const mdms = runScript('scripts/mdms.ts', [
    'run',
    '--broker',
    spec.brokerUrl,
    '--key',
    path.join(spec.keyDir, 'supplier.paillier.key.json'),
    '--sign-key',
    path.join(spec.keyDir, 'mdms.ed25519.key.pem'),
    '--trust',
    `gw-bench=${path.join(spec.keyDir, 'gateway.ed25519.pub.pem')}`,
    '--db',
    path.join(mkdtempSync(path.join(tmpdir(), 'bench-mdms-')), 'mdms.sqlite'),
  ]);
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
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const broker = await startBroker();
  console.log(`broker: ${broker.kind} at ${broker.url}`);
  const households = [...new Set(readFixture().map((r) => r.household))];
  const encryption: EncryptionResult[] = [];
  const decryption: DecryptionResult[] = [];
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
    `${JSON.stringify({ machine, broker: broker.kind, encryption, decryption, pipeline }, null, 2)}\n`,
  );
  writeFileSync(path.join(out, 'latest.md'), md);
  writeFileSync(path.join(out, 'latest.svg'), chartSvg(encryption, pipeline));
  console.log(`wrote bench/results/latest.{json,md,svg}`);
}

runCli(main);
