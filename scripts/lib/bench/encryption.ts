/** Encryption (per engine) and decryption (per method) alone, on one thread, same key. */
import { ConfigSchema } from '../../../gateway/config/schema.ts';
import { startEngine } from '../../../gateway/encrypt/engine-factory.ts';
import type { PaillierPublicKey } from '../../../gateway/encrypt/paillier.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { PrivateKey, PublicKey } from 'paillier-bigint';
import { CrtDecryptor, decrypt } from '../mdms/decrypt.ts';
import { combinePartials, partialDecrypt, splitKey } from '../split-key/shares.ts';

export interface EncryptionResult {
  engine: string;
  bits: number;
  samples: number;
  cpuMsPerEncryption: number;
  latencyMs: { p50: number; p99: number; max: number };
  tableBytes: number;
}

export async function benchEncryption(
  key: PaillierPublicKey,
  engine: 'djn' | 'native' | 'paillier-bigint',
  samples: number,
): Promise<EncryptionResult> {
  // No pool: every randomizer is computed inside the measured call, so CPU per call is the whole cost.
  const cfg = ConfigSchema.shape.encryption.parse({ engine, poolSize: 0 });
  const handle = await startEngine(cfg, key);
  handle.engine.encrypt(1n); // warm-up
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    handle.engine.encrypt(BigInt(i));
    latencies.push(performance.now() - t);
  }
  const used = process.cpuUsage(cpu);
  await handle.stop();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    engine,
    bits: key.bits,
    samples,
    cpuMsPerEncryption: (used.user + used.system) / 1000 / samples,
    latencyMs: { p50: at(0.5), p99: at(0.99), max: latencies.at(-1)! },
    tableBytes: handle.details.tableBytes,
  };
}

export interface DecryptionResult {
  method: string;
  bits: number;
  samples: number;
  cpuMsPerDecryption: number;
}

/**
 * Decryption at the MDMS: CRT (the reference MDMS with a whole key), the definition in native code,
 * paillier-bigint, and the split key (issue #18): both partials plus combining, and the supplier's side alone.
 */
export async function benchDecryption(key: PaillierPrivateKey, samples: number): Promise<DecryptionResult[]> {
  const handle = await startEngine(
    ConfigSchema.shape.encryption.parse({ engine: 'djn', poolSize: 0 }),
    key.publicKey,
  );
  const ciphertexts = Array.from({ length: samples }, (_, i) => handle.engine.encrypt(BigInt(i)));
  await handle.stop();
  const crt = new CrtDecryptor(key);
  const { supplier, authority } = splitKey(key);
  // The MDMS's own cost when the authority's partials arrive precomputed (its share of the work).
  const authorityPartials = new Map(ciphertexts.map((c) => [c, partialDecrypt(authority, c)]));
  const reference = new PrivateKey(
    key.lambda,
    key.mu,
    new PublicKey(key.publicKey.n, key.publicKey.n + 1n),
    key.p,
    key.q,
  );
  const methods: [string, (c: bigint) => bigint][] = [
    ['CRT (reference MDMS)', (c) => crt.decrypt(c)],
    ['definition, native modexp', (c) => decrypt(key, c)],
    ['paillier-bigint', (c) => reference.decrypt(c)],
    // Both partials are computed here; in production the authority's runs on its own machine, in parallel.
    [
      'split key: both partials + combine',
      (c) => combinePartials(key.publicKey, [partialDecrypt(supplier, c), partialDecrypt(authority, c)]),
    ],
    [
      'split key: supplier partial + combine',
      (c) => combinePartials(key.publicKey, [partialDecrypt(supplier, c), authorityPartials.get(c)!]),
    ],
  ];
  return methods.map(([method, fn]) => {
    const cpu = process.cpuUsage();
    ciphertexts.forEach((c, i) => {
      if (fn(c) !== BigInt(i)) throw new Error(`${method} decrypted wrongly`);
    });
    const used = process.cpuUsage(cpu);
    return {
      method,
      bits: key.publicKey.bits,
      samples,
      cpuMsPerDecryption: (used.user + used.system) / 1000 / samples,
    };
  });
}
