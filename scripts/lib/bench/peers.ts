/**
 * The peers of a measured gateway, shared by `npm run bench` and `npm run soak`: a local broker (Mosquitto when
 * installed, else the embedded one), throwaway keys, the reference MDMS in a process of its own, and the compiled
 * gateway started with the production V8 flags.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeKeyFile } from '../../../gateway/keys/files.ts';
import { generatePaillier, generateSigningPair } from '../../../gateway/keys/generate.ts';
import { paillierPrivateJson, paillierPublicJson } from '../../../gateway/keys/paillier-files.ts';
import { startEmbeddedBroker } from '../embedded-broker.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface BrokerPeer {
  url: string;
  kind: string;
  /** upstream.protocolVersion the gateway must use with it: aedes speaks MQTT 3.1.1 only. */
  protocolVersion: 4 | 5;
  close(): Promise<void>;
}

export async function startBroker(): Promise<BrokerPeer> {
  const mosquitto = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(
    (bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined,
  );
  if (!mosquitto) {
    const b = await startEmbeddedBroker();
    return {
      url: b.url,
      kind: 'embedded aedes (install mosquitto for the reference figures)',
      protocolVersion: 4,
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
    protocolVersion: 5,
    close: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))),
  };
}

/** Supplier Paillier pair and gateway/MDMS Ed25519 pairs in a new directory, named as the bench and soak expect. */
export async function makeKeys(
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

export function runScript(entry: string, args: string[]): ChildProcess {
  return spawn(path.join(ROOT, 'scripts/lib/run-ts'), [entry, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The reference MDMS (`scripts/mdms run`) trusting one gateway, on its own database file. */
export function startMdmsProcess(o: {
  brokerUrl: string;
  keyDir: string;
  gatewayId: string;
  dbFile: string;
}): ChildProcess {
  return runScript('scripts/mdms.ts', [
    'run',
    '--broker',
    o.brokerUrl,
    '--key',
    path.join(o.keyDir, 'supplier.paillier.key.json'),
    '--sign-key',
    path.join(o.keyDir, 'mdms.ed25519.key.pem'),
    '--trust',
    `${o.gatewayId}=${path.join(o.keyDir, 'gateway.ed25519.pub.pem')}`,
    '--db',
    o.dbFile,
  ]);
}

/**
 * The V8 flags and malloc setting of the compiled gateway in production (`npm run start:compiled`, Pi guide §8);
 * GATEWAY_MAX_HEAP_MB overrides the old generation's cap, as it does for scripts/gateway.
 */
const PRODUCTION_NODE_FLAGS = [
  '--max-semi-space-size=2',
  `--max-old-space-size=${process.env.GATEWAY_MAX_HEAP_MB ?? 64}`,
];
/** `BENCH_PROF=DIR npm run bench` also writes V8 CPU profiles of the measured gateway (both threads) to DIR. */
const PROFILE_FLAGS = process.env.BENCH_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`]
  : [];
const PRODUCTION_ENV = { MALLOC_ARENA_MAX: '2' };

/**
 * A compiled entry point (`npm run build`) run with the production flags (`npm run start:compiled`): no
 * TypeScript loader in its memory, a small young generation and a capped old generation.
 */
export function runCompiled(entry: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [...PRODUCTION_NODE_FLAGS, ...PROFILE_FLAGS, path.join(ROOT, 'dist', entry), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...PRODUCTION_ENV },
    },
  );
}

/** `npm run build`, so that the measured gateway runs compiled JavaScript. */
export function build(): void {
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}
